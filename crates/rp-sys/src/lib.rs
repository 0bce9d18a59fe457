//! Plumbing at the bottom of the crate graph; it depends on no workspace crate.
//!
//! - [`file`]: open and read a regular file without blocking on a FIFO or device, bounded
//!   in size;
//! - [`durable`]: writes that survive a crash (temp file, fsync, rename, fsync of the
//!   directory) and errors that name their path;
//! - [`hash`]: SHA-256 of a file, streamed;
//! - [`process`]: the one process runner (own process group, deadline, cancel, output
//!   cap, SIGTERM then SIGKILL to the group), bounded or streamed;
//! - [`signal`]: guards over signal dispositions;
//! - [`os`] and [`mmap`]: the safe wrappers over libc and memory maps.
//!
//! This crate never prints. Besides the interposer (`rp-trace-preload`) it is the only
//! crate allowed `unsafe`.
#![deny(missing_docs)]

pub mod durable;
pub mod file;
pub mod hash;
pub mod mmap;
pub mod os;
pub mod process;
pub mod signal;

pub use durable::{ctx, PathError};
pub use file::{open_regular, read_regular, OpenError, OpenErrorKind};
pub use hash::sha256_file;
