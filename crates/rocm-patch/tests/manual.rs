//! Completions, manual pages, `--version` and `--help`: generated scripts loaded in a real
//! bash, pages rendered by a real `man -l`.

mod common;
use common::*;
use std::process::Command;

/// Complete `words` (the last one being completed) with the script loaded in bash.
fn complete(script: &str, words: &[&str]) -> Vec<String> {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("rocm-patch.bash");
    std::fs::write(&f, script).unwrap();
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let cword = words.len() - 1;
    let prev = if cword > 0 { words[cword - 1] } else { "" };
    let cmd = format!(
        "source {}; COMP_WORDS=({}); COMP_CWORD={cword}; _rocm__patch rocm-patch '{}' '{prev}'; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        f.display(),
        quoted.join(" "),
        words[cword],
    );
    let o = Command::new("bash").arg("-c").arg(&cmd).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn bash_completion_completes_commands_options_and_values() {
    let (code, script, err) = rp(&["completions", "bash"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(complete(&script, &["rocm-patch", "do"]), ["doctor"]);
    assert_eq!(complete(&script, &["rocm-patch", "--sta"]), ["--state-dir"]);
    // A subcommand's own options and values (clap-rs/clap#6421 worked around).
    assert_eq!(
        complete(&script, &["rocm-patch", "probe", "--dev"]),
        ["--device"]
    );
    assert_eq!(
        complete(&script, &["rocm-patch", "probe", "--device", ""]),
        ["auto", "cuda", "cpu"]
    );
    assert_eq!(
        complete(&script, &["rocm-patch", "deploy", "plan", "--in"]),
        ["--into"]
    );
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        let (code, script, _) = rp(&["completions", shell]);
        assert_eq!(code, 0);
        assert!(
            script.contains("rocm-patch") && script.contains("doctor"),
            "{shell}"
        );
    }
    let (code, _, err) = rp(&["completions", "tcsh"]);
    assert_eq!(code, 2);
    assert!(err.contains("tcsh"), "{err}");
}

fn man_l(page: &std::path::Path) -> String {
    let o = Command::new("man")
        .arg("-l")
        .arg(page)
        .env("MANWIDTH", "100")
        .env("MAN_KEEP_FORMATTING", "0")
        .env("PAGER", "cat")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // Bold and underline come as overstrikes (`N\bN`, `_\bx`) when not on a terminal.
    let mut text = String::new();
    for c in String::from_utf8_lossy(&o.stdout).chars() {
        if c == '\u{8}' {
            text.pop();
        } else {
            text.push(c);
        }
    }
    text
}

#[test]
fn man_pages_render_refresh_their_own_and_never_replace_a_file() {
    let d = tempfile::tempdir().unwrap();
    let (code, page, _) = rp(&["man"]);
    assert_eq!(code, 0);
    let main = d.path().join("stdout.1");
    std::fs::write(&main, page).unwrap();
    let text = man_l(&main);
    for h in ["NAME", "SYNOPSIS", "SUBCOMMANDS", "rocm-patch-doctor(1)"] {
        assert!(text.contains(h), "{h} missing:\n{text}");
    }
    let dir = d.path().join("man1");
    std::fs::create_dir(&dir).unwrap();
    let (code, listed, err) = rp(&["man", s(&dir)]);
    assert_eq!(code, 0, "{err}");
    // The main page and one per command.
    assert_eq!(listed.lines().count(), 20, "{listed}");
    assert!(dir.join("rocm-patch-build.1").exists());
    assert!(dir.join("rocm-patch-trace.1").exists());
    assert!(dir.join("rocm-patch-bench.1").exists());
    assert!(dir.join("rocm-patch-tune.1").exists());
    assert!(dir.join("rocm-patch-fix.1").exists());
    assert!(dir.join("rocm-patch-report.1").exists());
    let doctor = man_l(&dir.join("rocm-patch-doctor.1"));
    assert!(doctor.contains("--sysroot"), "{doctor}");
    assert!(man_l(&dir.join("rocm-patch-inspect.1")).contains("--gpu"));
    // A second run replaces nothing and says which files are in the way.
    std::fs::write(dir.join("rocm-patch-env.1"), "mine").unwrap();
    std::fs::remove_file(dir.join("rocm-patch.1")).unwrap();
    let (code, _, err) = rp(&["man", s(&dir)]);
    assert_eq!(code, 2);
    assert!(
        err.contains("rocm-patch-env.1") && err.contains("left alone"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("rocm-patch-env.1")).unwrap(),
        "mine"
    );
    assert!(
        !dir.join("rocm-patch.1").exists(),
        "nothing written when one is in the way"
    );
    // After an upgrade: pages an older rocm-patch wrote are refreshed in place.
    std::fs::remove_file(dir.join("rocm-patch-env.1")).unwrap();
    let old = ".TH rocm-patch-doctor 1 \"rocm-patch 0.0.9\"\n.SH NAME\nold\n";
    std::fs::write(dir.join("rocm-patch-doctor.1"), old).unwrap();
    let (code, listed, err) = rp(&["man", s(&dir)]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(listed.lines().count(), 20, "{listed}");
    assert!(man_l(&dir.join("rocm-patch-doctor.1")).contains("--sysroot"));
    // A directory that does not exist yet is made.
    let fresh = d.path().join("share/man/man1");
    let (code, _, err) = rp(&["man", s(&fresh)]);
    assert_eq!(code, 0, "{err}");
    assert!(fresh.join("rocm-patch.1").is_file());
}

#[test]
fn version_and_help() {
    let (code, v, _) = rp(&["--version"]);
    assert_eq!(code, 0);
    // "rocm-patch 0.1.0 (commit <12 hex>, knowledge base <YYYY-MM-DD>)" in a checkout.
    let re = v.trim();
    assert!(
        re.starts_with(&format!("rocm-patch {}", env!("CARGO_PKG_VERSION"))),
        "{re}"
    );
    let commit = re
        .split("commit ")
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap();
    assert!(
        commit == "unknown"
            || (commit.len() == 12 && commit.chars().all(|c| c.is_ascii_hexdigit())),
        "{re}"
    );
    let kb = re
        .split("knowledge base ")
        .nth(1)
        .unwrap()
        .trim_end_matches(')');
    assert!(
        kb == "unknown" || (kb.len() == 10 && kb.as_bytes()[4] == b'-'),
        "{re}"
    );
    let (code, help, _) = rp(&["--help"]);
    assert_eq!(code, 0);
    assert!(help.contains("Examples:"), "{help}");
    assert!(
        help.trim_end().ends_with("Start with `rocm-patch doctor`."),
        "{help}"
    );
}
