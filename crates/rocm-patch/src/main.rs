//! `rocm-patch`: parse the command line, run, map the outcome to an exit code.
fn main() -> std::process::ExitCode {
    rocm_patch::main_entry()
}
