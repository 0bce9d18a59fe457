//! Follow kpack'd host binaries to their archives as the HIP runtime does
//! (docs/code-objects.md, "Kpack"; rocm-kpack `runtime/src/loader.cpp` and
//! `runtime/src/isa_target_match.h` at e3483286).
//!
//! What the runtime does, for each translation unit `N` of a binary (its HIPK wrapper's
//! `reserved1`, passed as `co_index`):
//! 1. the list of archive paths: `ROCM_KPACK_PATH` (colon-separated) alone when set;
//!    else `ROCM_KPACK_PATH_PREFIX`'s paths, then each path of the binary's
//!    `.rocm_kpack_ref`, made absolute against the binary's directory, a path with
//!    `@GFXARCH@` expanded (its first occurrence) once for each architecture it asks
//!    about — the device's ISA name, then its generic target — and each subset of its
//!    features, most specific first (`gfx1010:xnack-`, then `gfx1010`);
//! 2. every path that is a regular file and opens is an archive, read once;
//! 3. for each architecture in order, each compatible target in order: the first
//!    archive whose `gfx_arches` holds the target is the one; the kernel is
//!    `toc["KERNEL_NAME#N"][target]` there, or the load fails — no other archive or
//!    architecture is tried once an archive matched (rocm-kpack #11).
//!
//! `ROCM_KPACK_DISABLE` (set, not empty, not starting with `0`) turns the loader off.
//!
//! Inspecting knows no GPU, so step 1 is done for every architecture at once: a
//! `@GFXARCH@` path is matched against the directory's files (or a wheel's members), and
//! each archive found is recorded with the architecture its name stands for. Steps 2–3
//! for one GPU are [`verdict`]'s, run by `coverage`.

mod load;
mod resolve;
#[cfg(test)]
mod tests;

pub use load::{compatible_targets, runtime_archs, unit_load, UnitLoad};
pub(crate) use load::{verdict, Verdict};
pub(crate) use resolve::resolve;

use std::path::PathBuf;

/// The placeholder TheRock writes in search paths (`loader.cpp`, `kGfxArchPlaceholder`).
pub const PLACEHOLDER: &str = "@GFXARCH@";

/// The runtime's kpack variables (rocm-kpack `runtime/src/loader.cpp`,
/// `kpack_cache_create`), read once as the runtime reads them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KpackEnv {
    /// `ROCM_KPACK_PATH`: archives searched instead of the binaries' own paths.
    pub path: Vec<String>,
    /// `ROCM_KPACK_PATH_PREFIX`: archives searched before the binaries' own paths.
    pub path_prefix: Vec<String>,
    /// `ROCM_KPACK_DISABLE` is set to something not empty that does not start with `0`.
    pub disabled: bool,
    /// `ROCM_KPACK_DEBUG` likewise: the runtime logs each step to stderr.
    pub debug: bool,
    /// Absolute paths of the variables lie under this directory (a `--sysroot`).
    pub root: Option<PathBuf>,
}

impl KpackEnv {
    /// Read the variables through `get` (the process environment, or a machine
    /// snapshot's).
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> KpackEnv {
        // `flag`: set, not empty, first character not '0' (loader.cpp).
        let flag = |v: Option<String>| v.is_some_and(|v| !v.is_empty() && !v.starts_with('0'));
        // Colon-separated, empty elements dropped (loader.cpp, `split_path_list`).
        let list = |v: Option<String>| -> Vec<String> {
            v.unwrap_or_default()
                .split(':')
                .filter(|p| !p.is_empty())
                .map(str::to_string)
                .collect()
        };
        KpackEnv {
            path: list(get("ROCM_KPACK_PATH")),
            path_prefix: list(get("ROCM_KPACK_PATH_PREFIX")),
            disabled: flag(get("ROCM_KPACK_DISABLE")),
            debug: flag(get("ROCM_KPACK_DEBUG")),
            root: None,
        }
    }

    /// The variables of this process.
    pub fn from_process() -> KpackEnv {
        KpackEnv::from_vars(|k| std::env::var(k).ok())
    }
}

/// `lib/a.so#3` or `lib/a.so` (the bare name, an older table's key) for `lib/a.so`.
pub(super) fn key_matches(key: &str, name: &str) -> bool {
    key == name || unit_of(key, name).is_some()
}

/// The `N` of `name#N`.
pub(super) fn unit_of(key: &str, name: &str) -> Option<u64> {
    key.strip_prefix(name)?.strip_prefix('#')?.parse().ok()
}
