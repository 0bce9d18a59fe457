//! Human renderers. JSON is the report serialised as it is.

pub mod bench;
pub mod build;
pub mod deploy;
pub mod doctor;
pub mod env;
pub mod explain;
pub mod fix;
pub mod inspect;
pub mod probe;
pub mod report;
pub mod trace;
