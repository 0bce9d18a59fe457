//! `rocm-patch report`: every kind of secret planted in a synthesized RX 5600 XT machine
//! and its logs, none survives; the Markdown parses with the headings a maintainer
//! expects; the size limit cuts with a note; nothing is overwritten.
#![cfg(feature = "real-data")]

mod common;
use common::machine::{torch_venv, AmdGpu, Machine};
use common::*;
use pulldown_cmark::{Event, HeadingLevel, Parser, Tag, TagEnd};
use rp_report::BugReport;
use std::path::{Path, PathBuf};
use std::process::Command;

const THEROCK: &str = "__version__ = '2.12.0+rocm7.14.0'\ncuda = None\nhip = '7.14.0-0'\n";
const HOST: &str = "alices-workstation";
const MACHINE_ID: &str = "5f3e9c1a2b4d6e8f0a1b2c3d4e5f6a7b";
const UNIQUE_ID: u64 = 0x1f2e_3d4c_5b6a_7988;
const SERIAL: &str = "7QB3KX19A2";
const MAC: &str = "52:54:00:ab:cd:ef";
const IPV4: &str = "192.168.17.42";
const IPV6: &str = "fe80::5054:ff:feab:cdef";

struct Setup {
    _d: tempfile::TempDir,
    root: PathBuf,
    venv: PathBuf,
    log: PathBuf,
}

fn setup(kern_lines: usize) -> Setup {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("root");
    let mut gpu = AmdGpu::rx5600xt(1, 0x03);
    gpu.unique_id = UNIQUE_ID;
    let mut kern = String::new();
    for i in 0..kern_lines {
        kern.push_str(&format!(
            "Dec  3 07:0{}:00 {HOST} kernel: [  {i}.000000] amdgpu 0000:03:00.0: amdgpu: ring gfx_0.0.0 timeout, signaled seq={i}\n",
            i % 10
        ));
    }
    // Lines explain recognises (ring timeouts) carrying identifying values: kept, redacted.
    kern.push_str(&format!("Dec  3 07:10:00 {HOST} kernel: amdgpu 0000:03:00.0: amdgpu: ring sdma0 timeout, serial {SERIAL}, unique id {UNIQUE_ID:#x}\n"));
    kern.push_str(&format!(
        "Dec  3 07:10:01 {HOST} kernel: amdgpu 0000:03:00.0: amdgpu: ring kiq_2.1.0 timeout, peer {MAC}\n"
    ));
    kern.push_str(&format!(
        "Dec  3 07:10:02 {HOST} kernel: [drm] amdgpu: ring comp_1.0.0 timeout at {IPV4} {IPV6} for alice\n"
    ));
    let root = Machine::new(&root)
        .cpu_node(0, 12)
        .amd_gpu(&gpu)
        .driver_ok()
        .file("etc/hostname", &format!("{HOST}\n"))
        .file("etc/machine-id", &format!("{MACHINE_ID}\n"))
        .file(
            "etc/os-release",
            "PRETTY_NAME=\"Debian GNU/Linux 13 (trixie)\"\n",
        )
        .file("proc/sys/kernel/osrelease", "6.12.48+deb13-amd64\n")
        .file(
            "sys/bus/pci/devices/0000:03:00.0/serial_number",
            &format!("{SERIAL}\n"),
        )
        .file("var/log/kern.log", &kern)
        .finish();
    let venv = torch_venv(
        &root.join("home/alice/venvs/torch"),
        THEROCK,
        &[("libtorch_hip.so", &fx("libnative_gfx101x.so"))],
        None,
        &[],
    );
    let log = d.path().join("train.log");
    std::fs::write(
        &log,
        format!(
            "alice@{HOST}:~$ python train.py\nconnecting to {IPV4}:29500 from {MAC}\n/home/alice/venvs/torch/lib/python3.11/site-packages/torch/cuda/__init__.py\nMemory access fault by GPU node-1 (Agent handle: 0x55d0) on address 0x7f00. Reason: Page not present or supervisor privilege.\n"
        ),
    )
    .unwrap();
    Setup {
        _d: d,
        root,
        venv,
        log,
    }
}

fn report(st: &Setup, extra: &[&str]) -> (i32, String, String) {
    report_in(st, extra, &[], &st.log)
}

fn report_in(
    st: &Setup,
    extra: &[&str],
    env: &[(&str, String)],
    log: &Path,
) -> (i32, String, String) {
    cli()
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir(&st.root)
        .args([
            "report",
            "--sysroot",
            s(&st.root),
            "--user",
            "alice",
            "--python",
        ])
        .arg(&st.venv)
        .arg("--log")
        .arg(log)
        .args(extra)
        .run()
        .triple()
}

fn secrets(root: &Path) -> Vec<String> {
    vec![
        "alice".into(),
        HOST.into(),
        MACHINE_ID.into(),
        UNIQUE_ID.to_string(),
        format!("{UNIQUE_ID:x}"),
        SERIAL.into(),
        MAC.into(),
        IPV4.into(),
        IPV6.into(),
        // The host path of the tree is not the machine's business either.
        s(root).to_string(),
    ]
}

fn headings(md: &str) -> Vec<(HeadingLevel, String)> {
    let mut out = Vec::new();
    let mut cur: Option<(HeadingLevel, String)> = None;
    for e in Parser::new(md) {
        match e {
            Event::Start(Tag::Heading { level, .. }) => cur = Some((level, String::new())),
            Event::Text(t) | Event::Code(t) => {
                if let Some((_, s)) = &mut cur {
                    s.push_str(&t);
                }
            }
            Event::End(TagEnd::Heading(_)) => out.extend(cur.take()),
            _ => {}
        }
    }
    out
}

#[test]
fn nothing_identifying_survives_and_the_markdown_parses() {
    let st = setup(5);
    let (code, md, err) = report(&st, &[]);
    assert_eq!(code, 0, "{err}");
    for secret in secrets(&st.root) {
        assert!(!md.contains(&secret), "{secret} survived:\n{md}");
    }
    for ph in ["<user>", "<host>", "<mac-1>", "<ip-1>", "<gpu-serial-"] {
        assert!(md.contains(ph), "{ph} missing:\n{md}");
    }
    assert!(
        md.contains("Redacted (stable placeholders such as `<user>`):")
            && md.contains("host name")
            && md.contains("MAC addresses")
            && md.contains("IP addresses")
            && md.contains("GPU serial numbers"),
        "{md}"
    );
    let h = headings(&md);
    assert_eq!(h[0], (HeadingLevel::H1, "rocm-patch report".to_string()));
    let h2: Vec<&str> = h
        .iter()
        .filter(|(l, _)| *l == HeadingLevel::H2)
        .map(|(_, t)| t.as_str())
        .collect();
    assert_eq!(
        h2,
        [
            "Summary",
            "Findings",
            "Libraries torch loads",
            "Profile",
            "Machine",
            "Kernel log",
            "Logs"
        ]
    );
    // What a maintainer needs is there.
    assert!(
        md.contains("AMD Radeon RX 5600 XT (gfx1010, KFD node 1, 1002:731f)"),
        "{md}"
    );
    assert!(md.contains("Kernel: 6.12.48+deb13-amd64; distribution: Debian GNU/Linux 13 (trixie)"));
    assert!(md.contains("torch 2.12.0+rocm7.14.0 (rocm)"), "{md}");
    assert!(
        md.contains("| gfx1010 |") && md.contains("gfx1010 gfx1011 gfx1012 | no | loads |"),
        "{md}"
    );
    assert!(md.contains("ring gfx_0.0.0 timeout"), "{md}");
    assert!(md.contains("Memory access fault"), "{md}");

    // The JSON carries the same, redacted too.
    let (code, json, _) = report(&st, &["--json"]);
    assert_eq!(code, 0);
    for secret in secrets(&st.root) {
        assert!(!json.contains(&secret), "{secret} survived in JSON");
    }
    let v: BugReport = serde_json::from_str(&json).unwrap();
    assert_eq!(v.schema, 1);
    assert!(v.redacted.len() >= 5, "{:?}", v.redacted);
    assert_eq!(v.libraries[0].loads.get("gfx1010"), Some(&true));

    // --no-redact keeps them.
    let (_, plain, _) = report(&st, &["--no-redact"]);
    assert!(plain.contains(HOST) && plain.contains(MAC) && plain.contains("/home/alice"));
}

#[test]
fn long_parts_are_cut_to_the_limit_with_a_note() {
    let st = setup(3000);
    let (code, md, err) = report(&st, &[]);
    assert_eq!(code, 0, "{err}");
    assert!(md.len() <= 65536, "{} bytes", md.len());
    // The last 60 amdgpu lines of the kernel log, not 3000.
    assert!(
        md.contains("seq=2999") && !md.contains("seq=2900,"),
        "kernel log tail"
    );
    let (_, small, _) = report(&st, &["--max-size", "6000"]);
    assert!(small.len() <= 6000, "{} bytes", small.len());
    assert!(small.contains("*(cut: "), "no cut note");
    assert!(small.contains("`rocm-patch report --max-size 0` keeps everything"));
    // Still valid Markdown with every section, and the findings kept whole.
    assert_eq!(headings(&small).len(), headings(&md).len());
    assert!(small.contains("## Findings"));
    let (_, all, _) = report(&st, &["--max-size", "0"]);
    assert!(!all.contains("*(cut: ") && all.len() > small.len());
}

#[test]
fn refusals_leave_everything_alone() {
    let st = setup(1);
    // The probe runs torch: never from a tree.
    let (code, _, err) = report(&st, &["--probe"]);
    assert_eq!(code, 2);
    assert!(
        err.starts_with("rocm-patch: error: --probe runs torch"),
        "{err}"
    );
    // An existing output file is kept.
    let out = st.root.join("report.md");
    std::fs::write(&out, "mine").unwrap();
    let (code, _, err) = report(&st, &["-o", s(&out)]);
    assert_eq!(code, 2);
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "mine");
    let fresh = st.root.join("new.md");
    let (code, said, _) = report(&st, &["-o", s(&fresh)]);
    assert_eq!(code, 0);
    assert_eq!(said.trim(), s(&fresh));
    assert!(std::fs::read_to_string(&fresh)
        .unwrap()
        .starts_with("# rocm-patch report"));
}

/// One secret of each kind the redaction knows, planted where a report reads: the
/// environment (variables the profile and doctor show), a log explain recognises, the
/// kernel log, and the log's file name. None survives in Markdown or JSON; without
/// redaction each is there (so each was planted where the report looks). Kernel-log and
/// log lines that explain does not recognise are left out whatever they carry.
#[test]
fn no_planted_secret_survives_in_markdown_or_json() {
    let st = setup(2);
    const GHP: &str = "ghp_Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0FeDcBa";
    const PAT: &str = "github_pat_11AAAAAAA0bcdefghijkLMNOPqrstuvwxyz0123456789";
    const HF: &str = "hf_QwErTyUiOpAsDfGhJkLzXcVbNm0123456789";
    const AKIA: &str = "AKIAZ7XQ3MPLE4EXAMPL";
    const AWS_SECRET: &str = "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";
    const PASSWORD: &str = "Tr0ub4dor-and-3";
    const URL_PW: &str = "urlpass-77";
    const EMAIL: &str = "carol.smith@example.org";
    const SSH_KEY: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIGv3kq8Zp";
    const KEY_BODY: &str = "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW";
    const OTHER_HOME: &str = "/home/dave";
    const MAC_HOME: &str = "/Users/erin";
    let secrets = [
        GHP, PAT, HF, AKIA, AWS_SECRET, PASSWORD, URL_PW, EMAIL, SSH_KEY, KEY_BODY, OTHER_HOME,
        MAC_HOME, "/root/",
    ];
    // A log explain recognises (a memory fault, a HIP error) carrying all of them, in a
    // file whose name carries some too.
    let dir = st.root.parent().unwrap().join(format!("{EMAIL} {GHP}"));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join(format!("{HF}.log"));
    std::fs::write(
        &log,
        format!(
            "Memory access fault by GPU node-1 (Agent handle: 0x55d0) on address 0x7f00. Reason: Page not present. HF_TOKEN={HF} GITHUB_TOKEN={PAT} {AKIA} {AWS_SECRET} password={PASSWORD} https://carol:{URL_PW}@git.example.org {EMAIL} ssh-ed25519 {SSH_KEY} {OTHER_HOME}/x {MAC_HOME}/y /root/z\n\
             hipErrorNoBinaryForGpu: -----BEGIN OPENSSH PRIVATE KEY----- {KEY_BODY}\n\
             an unrecognised line: the password is {PASSWORD}, not recognised: left out\n"
        ),
    )
    .unwrap();
    // The kernel log: one recognised line with a secret, unrecognised ones with more.
    let kern = st.root.join("var/log/kern.log");
    let mut k = std::fs::read_to_string(&kern).unwrap();
    k.push_str(&format!(
        "Dec  3 07:11:00 h kernel: amdgpu 0000:03:00.0: amdgpu: ring comp_1.0.0 timeout, token={GHP} owner {EMAIL}\n\
         Dec  3 07:11:01 h kernel: amdgpu 0000:03:00.0: amdgpu: loaded firmware from {OTHER_HOME}/fw for {AKIA}\n"
    ));
    std::fs::write(&kern, k).unwrap();
    // The environment: variables the profile reports.
    let env = [
        ("MIOPEN_USER_DB_PATH", format!("{OTHER_HOME}/.miopen-{GHP}")),
        ("ROCM_KPACK_PATH", format!("{MAC_HOME}/k/{HF}.kpack")),
        ("HIP_VISIBLE_DEVICES", "0".to_string()),
        (
            "HSA_TOOLS_LIB",
            format!("https://u:{URL_PW}@example.org/{EMAIL}"),
        ),
        (
            "MIOPEN_CUSTOM_CACHE_DIR",
            format!("/root/cache-{AWS_SECRET}"),
        ),
    ];
    let (code, md, err) = report_in(&st, &[], &env, &log);
    assert_eq!(code, 0, "{err}");
    let (code, json, _) = report_in(&st, &["--json"], &env, &log);
    assert_eq!(code, 0);
    let v: BugReport = serde_json::from_str(&json).unwrap();
    for secret in secrets {
        assert!(!md.contains(secret), "{secret} survived in Markdown:\n{md}");
        assert!(!json.contains(secret), "{secret} survived in JSON:\n{json}");
    }
    for kind in [
        "GitHub tokens",
        "Hugging Face tokens",
        "AWS keys",
        "values of key=, token=, password=, secret=",
        "credentials in URLs",
        "e-mail addresses",
        "SSH and PGP keys",
        "home directories",
        "long random strings (keys)",
    ] {
        assert!(
            v.redacted.iter().any(|k| k == kind),
            "{kind}: {:?}",
            v.redacted
        );
        assert!(md.contains(kind), "{kind} not said:\n{md}");
    }
    // The recognised lines are there, in their shape; the others are not.
    assert!(md.contains("Memory access fault by GPU node-1"), "{md}");
    assert!(md.contains("ring comp_1.0.0 timeout, token=<"), "{md}");
    assert!(!md.contains("loaded firmware") && !json.contains("loaded firmware"));
    assert!(!md.contains("an unrecognised line") && !json.contains("an unrecognised line"));
    // Without redaction every planted value is in the report: each was planted where
    // the report reads.
    let (_, plain, _) = report_in(&st, &["--no-redact", "--json"], &env, &log);
    for secret in secrets {
        assert!(
            plain.contains(secret),
            "{secret} was not in the report at all"
        );
    }
}

/// On a terminal, a wait over 2 s says what the command waits for: here a log read from
/// a pipe (`--log <(journalctl …)`) that takes 3 s to come. The line is erased before the
/// report is written; without a terminal nothing is added to stderr.
#[test]
fn a_long_wait_shows_progress_on_a_terminal() {
    let st = setup(1);
    let fifo = st.root.parent().unwrap().join("log.fifo");
    let o = Command::new("mkfifo").arg(&fifo).output().unwrap();
    assert!(o.status.success());
    let feed = |fifo: PathBuf| {
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_secs(3));
            std::fs::write(&fifo, "HIP error: invalid device function\n").unwrap();
        })
    };
    let out = st.root.parent().unwrap().join("r.md");
    let cmd = format!(
        "'{}' report --sysroot '{}' --user alice --python '{}' --log '{}' -o '{}'",
        env!("CARGO_BIN_EXE_rocm-patch"),
        s(&st.root),
        s(&st.venv),
        s(&fifo),
        s(&out)
    );
    let writer = feed(fifo.clone());
    let o = Command::new("script")
        .args(["-qefc", &cmd, "/dev/null"])
        .env_remove("RP_PROGRESS_AFTER_MS")
        .output()
        .unwrap();
    writer.join().unwrap();
    let tty = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{tty}");
    assert!(
        tty.contains("rocm-patch: reading the logs ") && tty.contains(" 2s"),
        "{tty:?}"
    );
    assert!(tty.contains("\r\x1b[2K"), "{tty:?}");
    let md = std::fs::read_to_string(&out).unwrap();
    assert!(md.contains("invalid device function"), "{md}");
    assert!(!md.contains("reading the logs"));
    // No terminal: stderr stays empty.
    let writer = feed(fifo.clone());
    let (code, _, err) = report_in(&st, &[], &[], &fifo);
    writer.join().unwrap();
    assert_eq!(code, 0);
    assert!(err.is_empty(), "{err}");
}
