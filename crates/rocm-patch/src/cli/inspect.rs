//! `inspect` arguments.

use clap::Args;
use std::path::PathBuf;

/// `rocm-patch inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Files, directories (walked recursively) and wheels to inspect.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Answer for this GPU (e.g. gfx1010, gfx90a:xnack-): list the libraries that carry
    /// device code but none it can load. Exit 1 if any.
    #[arg(long, value_name = "TARGET")]
    pub gpu: Option<String>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Decompress compressed bundles fully: read each code object's header and check
    /// the bundle's size and hash (slower).
    #[arg(long)]
    pub deep: bool,
    /// List every code object, not only a per-file summary.
    #[arg(long, short)]
    pub verbose: bool,
    /// Wheel members larger than this many bytes are scanned as a stream instead of
    /// being read into memory (default 64 MiB; for tests).
    #[arg(long, hide = true, value_name = "BYTES")]
    pub wheel_member_in_memory: Option<u64>,
}
