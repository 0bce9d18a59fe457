//! The rocm-patch knowledge base.
//!
//! Device facts live in TOML files under `data/`, embedded in the binary. Every entry
//! carries a `ref` naming its source; logic elsewhere asks this crate instead of
//! hard-coding a device fact.
#![deny(missing_docs)]

use std::sync::OnceLock;

mod amdgpu_ids;
mod asics;
mod bench;
mod catalogs;
mod causes;
mod devices;
mod env;
mod families;
mod findings;
mod gfx_version;
mod machine;
mod probes;
mod profiles;
mod recipes;
mod remedies;
mod runtime;
mod signatures;
mod targets;
mod template;
#[cfg(test)]
mod tests;

pub use amdgpu_ids::{parse_amdgpu_ids, AMDGPU_IDS};
pub use catalogs::{catalogs, Catalog, CatalogMessage, CATALOGS};
pub use gfx_version::{GfxVersion, GfxVersionError};
pub use machine::{
    fill_noted, Asic, Cause, EnvVar, Family, FindingSpec, GcVersion, LibraryGap, OverrideCompat,
    PackageIndex, Peak, ProbeSpec, Remedy, RemedyAction, Runs, RunsStatus, Severity, Signature,
    Stack, StackStep, TargetNote, TuneSpec, Vendor, VenvSpec,
};
pub use profiles::PROFILES_TOML;
pub use recipes::RECIPE_FILES;
// The target id type lives in its own crate (no data), so the trace interposer can use it
// without this knowledge base; these paths keep working.
pub use rp_target_id::{Feature, TargetId, TargetIdError};
pub use targets::{Compat, Generic, Processor, Target};
pub use template::{check_text, fill, placeholder_names, try_fill, TextKind, UnknownPlaceholder};

/// The loaded knowledge base.
#[derive(Debug)]
pub struct Kb {
    targets: Vec<Target>,
    generics: Vec<Generic>,
    default_xnack: Feature,
    default_sramecc: Feature,
    devices: machine::DevicesFile,
    asics: machine::AsicsFile,
    families: machine::FamiliesFile,
    probes: machine::ProbesFile,
    amdgpu_ids: Vec<(u16, u8, String)>,
    runtime: machine::RuntimeFile,
    env: machine::EnvFile,
    findings: machine::FindingsFile,
    causes: machine::CausesFile,
    signatures: machine::SignaturesFile,
    remedies: machine::RemediesFile,
    bench: machine::BenchFile,
}

/// The knowledge base, parsed once from the embedded data.
pub fn kb() -> &'static Kb {
    static KB: OnceLock<Kb> = OnceLock::new();
    KB.get_or_init(|| {
        // The data is part of the binary and checked by this crate's tests, so a parse
        // failure is a build defect, not a user error.
        let file = targets::load();
        Kb {
            default_xnack: targets::parse_default(&file.default_xnack),
            default_sramecc: targets::parse_default(&file.default_sramecc),
            targets: file.target,
            generics: file.generic,
            devices: devices::load(),
            asics: asics::load(),
            families: families::load(),
            amdgpu_ids: parse_amdgpu_ids(AMDGPU_IDS),
            probes: probes::load(),
            runtime: runtime::load(),
            env: env::load(),
            findings: findings::load(),
            causes: causes::load(),
            signatures: signatures::load(),
            remedies: remedies::load(),
            bench: bench::load(),
        }
    })
}
