//! `rocm-patch env` and `run`: profile resolution on the fixture machines (snapshots),
//! layered configuration with sources, the user's own variables, config errors, and `run`
//! passing the environment, exit status and signals through.

mod common;

use common::machine::{AmdGpu, Machine};
use common::{cli, fixture, Output, Rp};
use rp_report::{EnvReport, ResolvedVar, VarAction};
use std::path::{Path, PathBuf};
use std::process::Command;

struct Ctx {
    _d: tempfile::TempDir,
    base: PathBuf,
}

impl Ctx {
    fn new() -> Ctx {
        let d = tempfile::tempdir().unwrap();
        let base = d.path().to_path_buf();
        for sub in ["config", "project", "cache"] {
            std::fs::create_dir_all(base.join(sub)).unwrap();
        }
        Ctx { _d: d, base }
    }
    fn cmd(&self, root: &Path, args: &[&str], env: &[(&str, &str)]) -> Rp {
        cli()
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("XDG_CONFIG_HOME", self.base.join("config"))
            .env("XDG_DATA_HOME", self.base.join("data"))
            .env("XDG_CACHE_HOME", "/home/u/.cache")
            .current_dir(self.base.join("project"))
            .arg(args[0])
            .arg("--sysroot")
            .arg(root)
            .args(&args[1..])
            .envs(env.iter().copied())
    }
    /// The same command line as a plain `Command`, for the one test that signals the
    /// running program (the kit's builder runs to the end), with SIGINT at its default
    /// disposition (coreutils `env --default-signal`): a test run as a background job of
    /// a shell without job control inherits SIGINT ignored, and exec would pass that on.
    fn spawnable(&self, root: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
        let mut c = Command::new("/usr/bin/env");
        c.arg("--default-signal=INT")
            .arg(env!("CARGO_BIN_EXE_rocm-patch"))
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("XDG_CONFIG_HOME", self.base.join("config"))
            .env("XDG_DATA_HOME", self.base.join("data"))
            .env("XDG_CACHE_HOME", "/home/u/.cache")
            .current_dir(self.base.join("project"))
            .arg(args[0])
            .arg("--sysroot")
            .arg(root)
            .args(&args[1..])
            .envs(env.iter().copied());
        c
    }
    /// Write the project's rocm-patch.toml and trust it, as its owner would.
    fn project(&self, text: impl AsRef<[u8]>) {
        std::fs::write(self.base.join("project/rocm-patch.toml"), text).unwrap();
        cli()
            .env_clear()
            .env("XDG_DATA_HOME", self.base.join("data"))
            .arg("trust")
            .arg(self.base.join("project"))
            .run()
            .code(0);
    }
    fn run(&self, root: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
        self.cmd(root, args, env).run()
    }
    fn json(&self, root: &Path, args: &[&str], env: &[(&str, &str)]) -> EnvReport {
        let mut a = vec!["env", "--shell", "json"];
        a.extend_from_slice(args);
        let o = self.run(root, &a, env);
        o.code(0);
        o.json()
    }
    fn clean(&self, s: &str) -> String {
        s.replace(self.base.to_str().unwrap(), "[TMP]")
    }
}

fn var<'a>(v: &'a EnvReport, name: &str) -> &'a ResolvedVar {
    v.vars
        .iter()
        .find(|x| x.name == name)
        .unwrap_or_else(|| panic!("{name} not in {:#?}", v.vars))
}

fn has(v: &EnvReport, name: &str) -> bool {
    v.vars.iter().any(|x| x.name == name)
}

fn machines(base: &Path) -> Vec<(&'static str, PathBuf)> {
    let mut dgpu = AmdGpu::rx5700xt(2, 0x03);
    dgpu.render_minor = 129;
    // A BC-250 style gfx1013 (Cyan Skillfish, KFD 100103): no native stack anywhere.
    let bc250 = AmdGpu {
        gfx_target_version: 100103,
        device: 0x13fe,
        revision: 0x00,
        asic: "ip discovery",
        ..AmdGpu::rx5600xt(1, 0x01)
    };
    vec![
        (
            "rx5600xt",
            Machine::new(&base.join("m-rx5600xt"))
                .cpu_node(0, 8)
                .amd_gpu(&AmdGpu::rx5600xt(1, 0x03))
                .driver_ok()
                .finish(),
        ),
        (
            "apu_rx5700xt",
            Machine::new(&base.join("m-apu"))
                .cpu_node(0, 16)
                .amd_gpu(&AmdGpu::raphael_igpu(1, 0x0e))
                .amd_gpu(&dgpu)
                .driver_ok()
                .finish(),
        ),
        (
            "gfx1013",
            Machine::new(&base.join("m-bc250"))
                .cpu_node(0, 6)
                .amd_gpu(&bc250)
                .driver_ok()
                .finish(),
        ),
        (
            "mi210",
            Machine::new(&base.join("m-mi210"))
                .capture(&fixture("sysfs/k8s-device-plugin_mi210"), 0x02)
                .driver_ok()
                .finish(),
        ),
    ]
}

#[test]
fn native_resolution_per_machine() {
    let c = Ctx::new();
    let m = machines(&c.base);
    for (name, root) in &m {
        for profile in ["native", "safe"] {
            let o = c.run(root, &["env", "--explain", "-p", profile], &[]);
            assert!(o.code == 0, "{}", o.stderr.as_str());
            let text = c.clean(&o.stdout);
            insta::assert_snapshot!(format!("{name}_{profile}"), text);
        }
    }
    // RDNA1 has native stacks: no override at all.
    let v = c.json(&m[0].1, &[], &[]);
    assert_eq!(var(&v, "HSA_OVERRIDE_GFX_VERSION").action, VarAction::Unset);
    assert!(!has(&v, "HSA_OVERRIDE_GFX_VERSION_1"));
    // APU + dGPU: the iGPU (node 1) is hidden, device 0 is the RX 5700 XT.
    let v = c.json(&m[1].1, &[], &[]);
    assert_eq!(var(&v, "ROCR_VISIBLE_DEVICES").value.as_deref(), Some("1"));
    assert!(var(&v, "ROCR_VISIBLE_DEVICES")
        .source
        .starts_with("machine"));
    // gfx1013: a per-device override to gfx1010, which it runs correctly (cgmb).
    let v = c.json(&m[2].1, &[], &[]);
    assert_eq!(
        var(&v, "HSA_OVERRIDE_GFX_VERSION_1").value.as_deref(),
        Some("10.1.0")
    );
    assert!(var(&v, "HSA_OVERRIDE_GFX_VERSION_1")
        .reference
        .contains("rocBLAS#1339"));
}

#[test]
fn the_users_own_variables_win_unless_forced() {
    let c = Ctx::new();
    let root = &machines(&c.base)[0].1;
    let env = [
        ("HSA_OVERRIDE_GFX_VERSION", "10.3.0"),
        ("MIOPEN_FIND_MODE", "NORMAL"),
    ];
    // An exported variable doctor rates as no error wins, and the output says how to
    // apply the profile instead.
    let o = c.run(root, &["env", "-p", "safe"], &env);
    let out = o.stdout.as_str();
    let err = o.stderr.as_str();
    assert!(
        out.contains("# MIOPEN_FIND_MODE kept from your environment"),
        "{out}"
    );
    assert!(
        err.contains("MIOPEN_FIND_MODE=NORMAL from your environment wins"),
        "{err}"
    );
    assert!(err.contains("`env`/`run --force`"), "{err}");
    // An exported override that makes this RX 5600 XT run gfx1030 code is removed, and
    // the output says why and how to keep it.
    assert!(
        out.lines()
            .any(|l| l.starts_with("unset HSA_OVERRIDE_GFX_VERSION")),
        "{out}"
    );
    assert!(
        err.contains("HSA_OVERRIDE_GFX_VERSION=10.3.0 from your environment is not kept: it makes node 1 (gfx1010) run gfx1030 machine code")
            && err.contains("--keep-env"),
        "{err}"
    );
    let v = c.json(root, &["-p", "safe"], &env);
    assert_eq!(var(&v, "MIOPEN_FIND_MODE").action, VarAction::Kept);
    assert_eq!(var(&v, "MIOPEN_FIND_MODE").value.as_deref(), Some("NORMAL"));
    assert_eq!(var(&v, "HSA_OVERRIDE_GFX_VERSION").action, VarAction::Unset);
    // --keep-env keeps it; the native profile (the default) removes it as well.
    let v = c.json(root, &["-p", "safe", "--keep-env"], &env);
    assert_eq!(var(&v, "HSA_OVERRIDE_GFX_VERSION").action, VarAction::Kept);
    let v = c.json(root, &[], &env);
    assert_eq!(var(&v, "HSA_OVERRIDE_GFX_VERSION").action, VarAction::Unset);
    // --force applies the profile, and says what it replaced.
    let o = c.run(root, &["env", "-p", "safe", "--force"], &env);
    let out = o.stdout.as_str();
    assert!(out.contains("unset HSA_OVERRIDE_GFX_VERSION"), "{out}");
    assert!(out.contains("export MIOPEN_FIND_MODE='FAST'"), "{out}");
    assert!(o.stderr.as_str().contains("replaced (--force)"));
}

#[test]
fn layered_configuration_and_sources() {
    let c = Ctx::new();
    let root = machines(&c.base)[0].1.clone();
    std::fs::create_dir_all(root.join("etc/rocm-patch")).unwrap();
    std::fs::write(
        root.join("etc/rocm-patch/config.toml"),
        "# site default\nprofile = \"safe\"\n\n[profiles.safe.vars]\nMIOPEN_FIND_MODE = \"NORMAL\"\n",
    )
    .unwrap();
    // Without user or project files the system layer decides.
    let v = c.json(&root, &[], &[]);
    assert_eq!(v.profile, "safe");
    assert!(v.profile_source.ends_with("etc/rocm-patch/config.toml:2"));
    assert_eq!(var(&v, "MIOPEN_FIND_MODE").value.as_deref(), Some("NORMAL"));
    assert!(var(&v, "MIOPEN_FIND_MODE")
        .source
        .ends_with("config.toml:5"));
    // The user defines a profile; the project picks it and overrides one variable.
    std::fs::create_dir_all(c.base.join("config/rocm-patch")).unwrap();
    std::fs::write(
        c.base.join("config/rocm-patch/config.toml"),
        "[profiles.mine]\nextends = \"safe\"\ndescription = \"my training runs\"\n\n[profiles.mine.vars]\nPYTORCH_HIP_ALLOC_CONF = { value = \"expandable_segments:True\", reason = \"fragmentation\" }\nMIOPEN_FIND_MODE = \"FAST\"\n",
    )
    .unwrap();
    c.project("profile = \"mine\"\n[profiles.mine.vars]\nMIOPEN_FIND_MODE = \"HYBRID\"\n");
    let v = c.json(&root, &[], &[]);
    assert_eq!(v.profile, "mine");
    assert_eq!(v.description, "my training runs");
    assert_eq!(var(&v, "MIOPEN_FIND_MODE").value.as_deref(), Some("HYBRID"));
    assert_eq!(
        c.clean(&var(&v, "MIOPEN_FIND_MODE").source),
        "[TMP]/project/rocm-patch.toml:3"
    );
    assert_eq!(var(&v, "PYTORCH_HIP_ALLOC_CONF").reason, "fragmentation");
    assert_eq!(
        c.clean(&var(&v, "PYTORCH_HIP_ALLOC_CONF").source),
        "[TMP]/config/rocm-patch/config.toml:6"
    );
    // Inherited from built-in safe through mine.
    assert_eq!(
        var(&v, "MIOPEN_DEBUG_CONV_GEMM").source,
        "built-in profile safe"
    );
    // The command line wins over everything.
    let v = c.json(
        &root,
        &["-p", "mine", "--set", "MIOPEN_FIND_MODE=NORMAL"],
        &[],
    );
    assert_eq!(var(&v, "MIOPEN_FIND_MODE").value.as_deref(), Some("NORMAL"));
    assert_eq!(var(&v, "MIOPEN_FIND_MODE").source, "command line");
    let o = c.run(&root, &["env", "--explain"], &[]);
    let text = c.clean(&o.stdout);
    insta::assert_snapshot!("layered_explain", text);
    // --list shows user profiles too.
    let o = c.run(&root, &["env", "--list"], &[]);
    assert!(o.stdout.as_str().contains("mine"));
}

#[test]
fn bad_input_errors() {
    let c = Ctx::new();
    let root = machines(&c.base)[0].1.clone();
    let o = c.run(&root, &["env", "-p", "fast"], &[]);
    assert_eq!(o.code, 2);
    let err = o.stderr.as_str();
    assert!(err.contains("unknown profile \"fast\""), "{err}");
    assert!(
        err.contains("debug, legacy-rdna1-override, native, safe"),
        "{err}"
    );
    // A malformed project file: the error names the file and the line.
    c.project("profile = \"safe\"\n\n[profiles.x.vars\nA = 1\n");
    let o = c.run(&root, &["env"], &[]);
    assert_eq!(o.code, 2);
    let err = c.clean(&o.stderr);
    assert!(err.contains("[TMP]/project/rocm-patch.toml"), "{err}");
    assert!(err.contains("line 3"), "{err}");
    // A variable with both value and unset.
    c.project("[profiles.x]\n[profiles.x.vars]\nA = { value = \"1\", unset = true }\n");
    let err = c.clean(&c.run(&root, &["env", "-p", "x"], &[]).stderr);
    assert!(
        err.contains("[TMP]/project/rocm-patch.toml: line 3: profiles.x.vars.A needs exactly one"),
        "{err}"
    );
    // An unknown key.
    c.project("[profiles.x]\nextend = \"safe\"\n");
    let err = c.clean(&c.run(&root, &["env", "-p", "x"], &[]).stderr);
    assert!(err.contains("line 2") && err.contains("extend"), "{err}");
    // A NUL in a value (issue 29): named with its file and line, for env and run alike,
    // never printed for a shell and never a failed start of the program.
    c.project("[profiles.x]\n[profiles.x.vars]\nOK = \"1\"\nFOO = \"a\\u0000b\"\n");
    for args in [
        &["env", "-p", "x"][..],
        &["run", "-p", "x", "--", "true"][..],
    ] {
        let o = c.run(&root, args, &[]);
        assert_eq!(o.code, 2, "{args:?}");
        assert!(o.stdout.is_empty(), "{args:?}");
        let err = c.clean(&o.stderr);
        assert!(
            err.contains("[TMP]/project/rocm-patch.toml: line 4: the value of FOO in profiles.\"x\".vars holds a NUL byte"),
            "{err}"
        );
    }
    // An extends cycle.
    c.project("[profiles.a]\nextends = \"b\"\n[profiles.b]\nextends = \"a\"\n");
    let err = c.run(&root, &["env", "-p", "a"], &[]).stderr;
    assert!(err.contains("extends itself"), "{err}");
    std::fs::remove_file(c.base.join("project/rocm-patch.toml")).unwrap();
    // The legacy profile needs the flag, and always warns.
    let o = c.run(&root, &["env", "-p", "legacy-rdna1-override"], &[]);
    assert_eq!(o.code, 2);
    assert!(o.stderr.as_str().contains("--i-know-this-crashes"));
    let o = c.run(
        &root,
        &[
            "env",
            "-p",
            "legacy-rdna1-override",
            "--i-know-this-crashes",
        ],
        &[],
    );
    assert!(o.code == 0);
    assert!(o
        .stdout
        .as_str()
        .contains("export HSA_OVERRIDE_GFX_VERSION='10.3.0'"));
    assert!(o.stderr.as_str().contains("known to crash"));
}

#[test]
fn shells_quote_values() {
    let c = Ctx::new();
    let root = machines(&c.base)[0].1.clone();
    let o = c.run(
        &root,
        &[
            "env",
            "--shell",
            "fish",
            "-p",
            "debug",
            "--set",
            "X=it's a \\ test",
        ],
        &[],
    );
    let out = o.stdout.as_str();
    assert!(out.contains("set -gx X 'it\\'s a \\\\ test'"), "{out}");
    assert!(out.contains("set -e HSA_OVERRIDE_GFX_VERSION"), "{out}");
    let o = c.run(&root, &["env", "--shell", "bash", "--set", "X=it's"], &[]);
    let out = o.stdout.as_str();
    assert!(out.contains("export X='it'\\''s'"), "{out}");
    // The bash output really evaluates to the profile.
    let script = format!(
        "{}\nprintf '%s|%s' \"$X\" \"${{HSA_OVERRIDE_GFX_VERSION-none}}\"",
        out
    );
    let r = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .env("HSA_OVERRIDE_GFX_VERSION", "10.3.0")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&r.stdout), "it's|none");
}

#[test]
fn run_passes_environment_status_and_signals() {
    use std::os::unix::process::ExitStatusExt;
    let c = Ctx::new();
    let root = machines(&c.base)[0].1.clone();
    // The environment reaches the child: set, unset, and the user's other variables.
    let o = c.run(
        &root,
        &["run", "-p", "debug", "--", "/usr/bin/env"],
        &[("KEEP_ME", "1"), ("HSA_OVERRIDE_GFX_VERSION", "10.3.0")],
    );
    let out = o.stdout.as_str();
    assert!(out.lines().any(|l| l == "AMD_SERIALIZE_KERNEL=3"), "{out}");
    assert!(out.lines().any(|l| l == "KEEP_ME=1"), "{out}");
    // An override that breaks this GPU never reaches the child, unless --keep-env.
    assert!(
        !out.lines()
            .any(|l| l.starts_with("HSA_OVERRIDE_GFX_VERSION=")),
        "{out}"
    );
    let o = c.run(
        &root,
        &["run", "-p", "debug", "--keep-env", "--", "/usr/bin/env"],
        &[("HSA_OVERRIDE_GFX_VERSION", "10.3.0")],
    );
    let out = o.stdout.as_str();
    assert!(
        out.lines().any(|l| l == "HSA_OVERRIDE_GFX_VERSION=10.3.0"),
        "{out}"
    );
    let o = c.run(
        &root,
        &["run", "--force", "--", "/usr/bin/env"],
        &[("HSA_OVERRIDE_GFX_VERSION", "10.3.0")],
    );
    assert!(!o.stdout.as_str().contains("HSA_OVERRIDE_GFX_VERSION"));
    // Arguments reach it untouched, without a shell.
    let o = c.run(
        &root,
        &["run", "--", "/usr/bin/printf", "%s|", "a b", "$HOME", "*"],
        &[],
    );
    assert_eq!(o.stdout.as_str(), "a b|$HOME|*|");
    // The exit status passes through.
    let o = c.run(&root, &["run", "--", "/bin/sh", "-c", "exit 42"], &[]);
    assert_eq!(o.code, 42);
    // A child killed by a signal: the same signal.
    let o = c.run(&root, &["run", "--", "/bin/sh", "-c", "kill -TERM $$"], &[]);
    assert_eq!(o.signal, Some(libc_sig::SIGTERM));
    // A signal sent to rocm-patch reaches the command (exec: same process).
    let mut child = c
        .spawnable(&root, &["run", "--", "/bin/sleep", "30"], &[])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until env and rocm-patch have become /bin/sleep (exec): a signal before that
    // would reach one of them (on a loaded machine that takes well over 300 ms).
    let comm = format!("/proc/{}/comm", child.id());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::fs::read_to_string(&comm).map_or(true, |c| c.trim() != "sleep") {
        assert!(
            std::time::Instant::now() < deadline,
            "rocm-patch run did not exec /bin/sleep within 30 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let t = std::time::Instant::now();
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let st = child.wait().unwrap();
    assert_eq!(st.signal(), Some(libc_sig::SIGINT));
    assert!(t.elapsed() < std::time::Duration::from_secs(5));
    // A missing command: 127, as shells do.
    let o = c.run(&root, &["run", "--", "/nonexistent/cmd"], &[]);
    assert_eq!(o.code, 127);
    assert!(o.stderr.as_str().contains("/nonexistent/cmd"));
}

mod libc_sig {
    pub const SIGINT: i32 = 2;
    pub const SIGTERM: i32 = 15;
}

/// What `env` prints is inert when eval'd, whatever a config file or the environment
/// holds (issue 13's reproducers): names no shell can set are refused with file and line,
/// and comments lose their newlines.
#[test]
fn hostile_configs_never_run_code() {
    let c = Ctx::new();
    let root = machines(&c.base)[0].1.clone();
    let canary = c.base.join("pwned");
    let touch = format!("touch {}", canary.display());
    // A name that would be code: refused, naming the file and line, nothing printed.
    for name in [
        format!("A;{touch};B"),
        format!("A\n{touch}\nB"),
        "1ABC".to_string(),
        "A B".to_string(),
        "$(id)".to_string(),
    ] {
        c.project(format!(
            "[profiles.native.vars]\n{}=\"y\"\n",
            toml_key(&name)
        ));
        let o = c.run(&root, &["env"], &[]);
        assert_eq!(o.code, 2, "{name:?}");
        assert!(o.stdout.is_empty(), "{name:?}");
        let err = o.stderr.as_str();
        assert!(
            err.contains("rocm-patch.toml: line 2") && err.contains("not a variable name"),
            "{err}"
        );
    }
    let o = c.run(&root, &["env", "--set", &format!("A;{touch};B=1")], &[]);
    assert_eq!(o.code, 2);
    // Newlines in a reason, a description and a profile name, and an exported value that
    // a warning quotes: every one stays in its comment.
    c.project(format!(
            "profile = \"p\\n{touch}\"\n[profiles.\"p\\n{touch}\"]\nextends = \"native\"\ndescription = \"d\\n{touch}\"\n[profiles.\"p\\n{touch}\".vars.MIOPEN_FIND_MODE]\nvalue = \"v'\\n{touch}\"\nreason = \"r\\n{touch} #\\r\\u0007\"\n"
        ));
    let exported = format!("x\n{touch} #");
    for shell in ["bash", "sh"] {
        for force in [false, true] {
            let mut args = vec!["env", "--shell", "bash"];
            if force {
                args.push("--force");
            }
            let o = c.run(&root, &args, &[("MIOPEN_FIND_MODE", &exported)]);
            assert!(o.code == 0, "{}", o.stderr.as_str());
            let out = o.stdout.clone();
            // Evaluated, the output sets the value the config holds (newline and quote
            // included, inside its quotes) and runs nothing else.
            let script = format!("{out}\nprintf '%s' \"$MIOPEN_FIND_MODE\"");
            let r = Command::new(shell)
                .arg("-c")
                .arg(&script)
                .env("MIOPEN_FIND_MODE", &exported)
                .output()
                .unwrap();
            assert!(
                r.status.success(),
                "{shell}: {}",
                String::from_utf8_lossy(&r.stderr)
            );
            let want = if force {
                format!("v'\n{touch}")
            } else {
                exported.clone()
            };
            assert_eq!(
                String::from_utf8_lossy(&r.stdout),
                want,
                "{shell} force={force}"
            );
            assert!(!canary.exists(), "{shell} ran code from:\n{out}");
        }
    }
}

/// A TOML key for any string (quoted, with escapes).
fn toml_key(s: &str) -> String {
    let mut k = String::from("\"");
    for ch in s.chars() {
        match ch {
            '"' => k.push_str("\\\""),
            '\\' => k.push_str("\\\\"),
            '\n' => k.push_str("\\n"),
            c => k.push(c),
        }
    }
    k.push('"');
    k
}

/// A project's rocm-patch.toml is ignored until it is trusted, and again after a
/// change; variables that load code are said out loud (issue 13).
#[test]
fn project_config_needs_trust() {
    let c = Ctx::new();
    let root = machines(&c.base)[0].1.clone();
    let file = c.base.join("project/rocm-patch.toml");
    let text =
        "[profiles.native.vars]\nLD_PRELOAD = \"/tmp/evil.so\"\nMIOPEN_FIND_MODE = \"NORMAL\"\n";
    std::fs::write(&file, text).unwrap();
    let o = c.run(&root, &["env"], &[]);
    assert!(o.code == 0);
    let out = o.stdout.as_str();
    let err = o.stderr.as_str();
    assert!(!out.contains("LD_PRELOAD"), "{out}");
    assert!(
        err.contains("is ignored") && err.contains("rocm-patch trust"),
        "{err}"
    );
    // Trusted: used, and the code-loading variable is named with its source.
    c.project(text);
    let o = c.run(&root, &["env"], &[]);
    let out = o.stdout.as_str();
    let err = c.clean(&o.stderr);
    assert!(out.contains("export LD_PRELOAD='/tmp/evil.so'"), "{out}");
    assert!(
        err.contains("LD_PRELOAD is set by [TMP]/project/rocm-patch.toml:2: every program run with this profile loads code from /tmp/evil.so"),
        "{err}"
    );
    // Changed after it was trusted: ignored again.
    std::fs::write(&file, format!("{text}# edited\n")).unwrap();
    let o = c.run(&root, &["env"], &[]);
    assert!(!o.stdout.as_str().contains("LD_PRELOAD"));
    // Trust removed.
    c.project(text);
    let o = cli()
        .env_clear()
        .env("XDG_DATA_HOME", c.base.join("data"))
        .args(["trust", "--remove"])
        .arg(c.base.join("project"))
        .run();
    assert_eq!(o.code, 0);
    let o = c.run(&root, &["env"], &[]);
    assert!(!o.stdout.as_str().contains("LD_PRELOAD"));
}

/// Configuration parsing is linear: 60,000 variables (24 s before line numbers were
/// indexed) finish well inside the bound.
#[test]
fn a_huge_config_is_linear() {
    let c = Ctx::new();
    let root = machines(&c.base)[0].1.clone();
    let mut text = String::from("[profiles.native.vars]\n");
    for i in 0..60_000 {
        text.push_str(&format!("V{i} = \"x\"\n"));
    }
    c.project(text);
    let t = std::time::Instant::now();
    let o = c.run(&root, &["env"], &[]);
    assert!(o.code == 0);
    assert!(o.stdout.as_str().contains("export V59999='x'"));
    assert!(
        t.elapsed() < std::time::Duration::from_secs(10),
        "{:?}",
        t.elapsed()
    );
}

/// Issue 26: the kpack loader's variables are shown by `env` and `run`.
#[test]
fn kpack_variables_are_shown() {
    let c = Ctx::new();
    let root = &machines(&c.base)[0].1;
    let env = [
        ("ROCM_KPACK_DISABLE", "1"),
        ("ROCM_KPACK_PATH", "/opt/k/torch_gfx1010.kpack"),
    ];
    let o = c.run(root, &["env"], &env);
    let err = o.stderr.as_str();
    assert!(
        err.contains("ROCM_KPACK_DISABLE=1 is set in your environment: the HIP runtime loads no kpack'd GPU code"),
        "{err}"
    );
    assert!(
        err.contains("ROCM_KPACK_PATH=/opt/k/torch_gfx1010.kpack"),
        "{err}"
    );
    let o = c.run(root, &["run", "--", "true"], &env);
    assert!(o.stderr.as_str().contains("ROCM_KPACK_DISABLE=1"), "{o:?}");
    // `0` is the loader's "not set".
    let o = c.run(root, &["env"], &[("ROCM_KPACK_DISABLE", "0")]);
    assert!(!o.stderr.as_str().contains("ROCM_KPACK_DISABLE"), "{o:?}");
}
