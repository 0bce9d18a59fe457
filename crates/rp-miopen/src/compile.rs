//! Optional ground truth: compile a batch-norm kernel with a real AMDGPU clang, as MIOpen's
//! comgr path does (OpenCL 2.0, `-O3`, `__IMAGE_SUPPORT__`: `src/comgr.cpp`
//! `AddCompilerOptions`, ROCm/MIOpen @d62f7730 L196-222). Runs only the compiler the
//! caller names, on a file the caller wrote; nothing here runs by default.

use std::path::Path;
use std::process::Command;

/// What one compile did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CompileOutcome {
    /// The compiler exited 0.
    pub ok: bool,
    /// Error lines (`error:`) it printed, each once, in order.
    pub errors: Vec<String>,
}

impl CompileOutcome {
    /// Some error is the assembler's rejection of a DPP operand (`row_bcast` on GFX10+).
    pub fn dpp_rejected(&self) -> bool {
        self.errors
            .iter()
            .any(|e| e.contains("not a valid operand"))
    }
}

/// Compiles `source` for `target` to an object (`-c`, output discarded) with `defines`
/// (`-DNAME=VALUE`), or preprocesses it without line markers (`-E -P`) when `preprocess`;
/// `include_dir` is searched for quoted includes. Returns the outcome, plus the
/// preprocessed text when `preprocess`.
pub fn compile(
    clang: &Path,
    source: &Path,
    include_dir: &Path,
    target: &str,
    defines: &[(String, String)],
    preprocess: bool,
) -> std::io::Result<(CompileOutcome, Vec<u8>)> {
    let mut cmd = Command::new(clang);
    cmd.args([
        "-x",
        "cl",
        "-cl-std=CL2.0",
        "-target",
        "amdgcn-amd-amdhsa",
        "-nogpulib",
        "-O3",
        "-D__IMAGE_SUPPORT__=1",
    ])
    .arg(format!("-mcpu={target}"));
    if target.contains("generic") {
        // Generic targets exist from code object version 6 on (clang: "gfx10-1-generic is
        // only available on code object version 6 or better").
        cmd.arg("-mcode-object-version=6");
    }
    cmd.arg("-I").arg(include_dir);
    for (k, v) in defines {
        cmd.arg(format!("-D{k}={v}"));
    }
    if preprocess {
        cmd.args(["-E", "-P"]);
    } else {
        cmd.args(["-c", "-o", "/dev/null"]);
    }
    cmd.arg(source);
    // Through the one process runner: its own process group, stopped after five minutes,
    // at most 64 MiB of each output kept (a preprocessed kernel is well under 1 MiB).
    let opts = rp_sys::process::Options {
        deadline: Some(std::time::Duration::from_secs(300)),
        ..Default::default()
    };
    let out = rp_sys::process::run_bounded(cmd, &opts, 64 << 20).map_err(|e| match e {
        rp_sys::process::RunError::Spawn { source, .. } => source,
        rp_sys::process::RunError::Wait(e) => e,
    })?;
    let mut errors: Vec<String> = Vec::new();
    for line in String::from_utf8_lossy(&out.stderr).lines() {
        if line.contains("error:") && !errors.iter().any(|e| e == line) {
            errors.push(line.to_string());
        }
    }
    let text = if preprocess { out.stdout } else { Vec::new() };
    Ok((
        CompileOutcome {
            ok: out.ended.success(),
            errors,
        },
        text,
    ))
}
