//! The test kit of rocm-patch's tests (a dev-dependency only, never published).
//!
//! - [`Rp`]: a command builder for the `rocm-patch` binary (the tests pass
//!   `env!("CARGO_BIN_EXE_rocm-patch")` once): arguments, environment, an isolated
//!   [`Home`], stdin and a timeout; [`Rp::run`] gives an [`Output`] and [`Rp::json`] the
//!   `--json` report deserialized into its `rp_report` type, with a panic that shows
//!   stdout and stderr when it is not one.
//! - [`machine`]: fake sysroots (KFD topology, PCI, DRM, venvs) for doctor, env, fix.
//! - [`FakeWorker`]: a Python stand-in for torch's interpreter that speaks the probe
//!   worker's protocol (`fake/python`), its behaviour chosen per test.
#![expect(
    clippy::missing_panics_doc,
    reason = "a test kit: every failure is a panic that names what failed"
)]

pub mod machine;

mod fake;
mod run;

pub use fake::{FakeWorker, FAKE_PYTHON};
pub use run::{Home, Output, Rp};
