//! What `rocm-patch report` needs beyond the other commands' reports: the installed
//! versions, the amdgpu lines of the kernel log, and redaction.
//!
//! [`Redactor`] replaces what identifies a person or a machine, or gives access to
//! something, with stable placeholders (`<user>`, `<mac-1>`, `<github-token-1>`, …) and
//! remembers which kinds it replaced:
//! - by shape, first: SSH and PGP key blocks and SSH public keys, credentials in URLs
//!   (`scheme://user:password@`, `scheme://token@`), GitHub (`ghp_…`, `github_pat_…`),
//!   Hugging Face (`hf_…`) and AWS (`AKIA…`) tokens, the values of `…key=`, `…token=`,
//!   `…password=`, `…secret=` (and `NAME: value`), long random strings (40 or more base64
//!   characters mixing case and digits: AWS secret keys, key material) and e-mail
//!   addresses;
//! - values it learns from the machine (the user name, the home directory, the host name,
//!   the machine-id, GPU serial numbers and unique ids), wherever they stand as a whole
//!   word;
//! - then every home directory (`/home/NAME`, `/Users/NAME`, `/root`), MAC and IP
//!   addresses.
//!
//! Nothing here prints or writes.
#![deny(missing_docs)]

use regex::Regex;
use rp_machine::{MachineSnapshot, SysRoot};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Largest file read for a report (the kernel log is read from its end).
const CAP: u64 = 1 << 20;

/// Versions a bug tracker asks for first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Versions {
    /// `uname -r`, from `/proc/sys/kernel/osrelease`.
    pub kernel: Option<String>,
    /// `PRETTY_NAME` of `/etc/os-release`.
    pub distribution: Option<String>,
}

/// Read the kernel release and the distribution.
pub fn versions(root: &SysRoot) -> Versions {
    let text = |p: &str| root.read_text(&root.host(p), CAP).ok();
    Versions {
        kernel: text("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty()),
        distribution: text("/etc/os-release")
            .or_else(|| text("/usr/lib/os-release"))
            .and_then(|t| os_release(&t, "PRETTY_NAME")),
    }
}

pub use rp_machine::os_release;

/// The last `max` lines of the kernel log files that mention amdgpu, KFD or DRM
/// (`/var/log/kern.log`, `/var/log/dmesg`, whichever are readable), and where they were
/// read. The log is not read through `/dev/kmsg` or `dmesg`: nothing is run.
pub fn kernel_log(root: &SysRoot, max: usize) -> (Vec<String>, Vec<String>) {
    let mut lines = Vec::new();
    let mut from = Vec::new();
    for p in ["/var/log/kern.log", "/var/log/dmesg"] {
        let Ok(text) = root.read_text(&root.host(p), CAP) else {
            continue;
        };
        from.push(p.to_string());
        lines.extend(
            text.lines()
                .filter(|l| {
                    let l = l.to_ascii_lowercase();
                    l.contains("amdgpu") || l.contains("kfd") || l.contains("[drm")
                })
                .map(str::to_string),
        );
    }
    let skip = lines.len().saturating_sub(max);
    (lines.split_off(skip), from)
}

/// Replaces identifying values with stable placeholders.
#[derive(Debug)]
pub struct Redactor {
    /// Known values: (pattern, placeholder, kind).
    words: Vec<(Regex, String, &'static str)>,
    /// Secrets found by their shape, replaced before the known values.
    secrets: Vec<Rule>,
    /// Home paths and addresses, replaced after them.
    patterns: Vec<Rule>,
    /// Placeholders given to pattern matches, by value.
    seen: std::cell::RefCell<BTreeMap<String, String>>,
    counts: std::cell::RefCell<BTreeMap<&'static str, usize>>,
    kinds: std::cell::RefCell<BTreeSet<&'static str>>,
}

/// A shape of value to replace.
#[derive(Debug)]
struct Rule {
    re: Regex,
    /// What the report says was replaced.
    kind: &'static str,
    /// Placeholders are `<prefix-N>`.
    prefix: &'static str,
    /// The capture group replaced (0: the whole match).
    group: usize,
    /// Whether a match is replaced.
    check: fn(&str) -> bool,
}

impl Redactor {
    /// A redactor for what this machine says about itself and its user.
    pub fn for_machine(root: &SysRoot, m: &MachineSnapshot) -> Redactor {
        let mut known: Vec<(String, &'static str, String)> = Vec::new();
        let text = |p: &Path| root.read_text(p, 4096).ok().map(|s| s.trim().to_string());
        if !root.is_live() {
            // The tree's own place on the reporter's disk.
            known.push((
                root.dir().display().to_string(),
                "the --sysroot path",
                "<sysroot>".into(),
            ));
        }
        if let Some(h) = &m.home {
            if h.len() > 1 {
                known.push((h.clone(), "home directory", "<home>".into()));
            }
        }
        if let Some(u) = &m.identity.name {
            if u != "root" {
                known.push((u.clone(), "user name", "<user>".into()));
            }
        }
        for p in ["/etc/hostname", "/proc/sys/kernel/hostname"] {
            if let Some(h) = text(&root.host(p)).filter(|h| !h.is_empty() && h != "localhost") {
                known.push((h, "host name", "<host>".into()));
            }
        }
        for p in ["/etc/machine-id", "/var/lib/dbus/machine-id"] {
            if let Some(id) = text(&root.host(p)).filter(|s| s.len() >= 16) {
                known.push((id, "machine-id", "<machine-id>".into()));
            }
        }
        let mut serials = BTreeSet::new();
        if let Some(t) = &m.sysfs.topology {
            for n in &t.nodes {
                if let Some(u) = n.props.u64("unique_id").filter(|&u| u > 0) {
                    serials.insert(u.to_string());
                    serials.insert(format!("{u:x}"));
                    serials.insert(format!("{u:#x}"));
                }
            }
        }
        for d in &m.sysfs.pci {
            let dev = root.host(format!("/sys/bus/pci/devices/{}", d.slot));
            for f in ["serial_number", "unique_id"] {
                if let Some(s) = text(&dev.join(f)).filter(|s| s.len() >= 4) {
                    serials.insert(s);
                }
            }
        }
        for (i, s) in serials.into_iter().enumerate() {
            known.push((
                s,
                "GPU serial numbers and unique ids",
                format!("<gpu-serial-{}>", i + 1),
            ));
        }
        Redactor::new(known)
    }

    /// A redactor for these values (value, kind, placeholder), besides the addresses it
    /// finds by pattern.
    pub fn new(mut known: Vec<(String, &'static str, String)>) -> Redactor {
        // Longer values first: a home directory before the user name inside it.
        known.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.0.cmp(&b.0)));
        known.dedup_by(|a, b| a.0 == b.0);
        let words = known
            .into_iter()
            .filter(|(v, _, _)| !v.is_empty())
            .map(|(v, kind, ph)| {
                // A whole word (or path): not inside a longer name.
                let re = Regex::new(&format!(
                    r"(^|[^A-Za-z0-9_.-]){}($|[^A-Za-z0-9_-])",
                    regex::escape(&v)
                ))
                .expect("escaped literal");
                (re, ph, kind)
            })
            .collect();
        let rule = |re: &str, kind, prefix, group, check| Rule {
            re: Regex::new(re).expect("redaction pattern"),
            kind,
            prefix,
            group,
            check,
        };
        let any: fn(&str) -> bool = |_| true;
        let secrets = vec![
            // Key blocks: whole when the string holds the END line, else to the end of
            // the line (the body lines are long random strings, below).
            rule(
                r"(?s)-----BEGIN [A-Z0-9 ]{0,40}-----.*?-----END [A-Z0-9 ]{0,40}-----",
                "SSH and PGP keys",
                "key-block",
                0,
                any,
            ),
            rule(
                r"-----BEGIN [A-Z0-9 ]{0,40}-----[^\n]*",
                "SSH and PGP keys",
                "key-block",
                0,
                any,
            ),
            rule(
                r"\b(?:ssh-(?:rsa|dss|ed25519)|ecdsa-sha2-nistp\d+|sk-(?:ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com) AAAA[0-9A-Za-z+/]+=*",
                "SSH and PGP keys",
                "ssh-key",
                0,
                any,
            ),
            // scheme://user:password@ and scheme://token@
            rule(
                r#"(?i)\b[a-z][a-z0-9+.-]{1,15}://([^\s/@"'<>`]+)@"#,
                "credentials in URLs",
                "credentials",
                1,
                any,
            ),
            rule(
                r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})",
                "GitHub tokens",
                "github-token",
                0,
                any,
            ),
            rule(
                r"\bhf_[A-Za-z0-9]{20,}",
                "Hugging Face tokens",
                "hf-token",
                0,
                any,
            ),
            rule(
                r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}\b",
                "AWS keys",
                "aws-key",
                0,
                any,
            ),
            // NAME=value, NAME: value, where NAME ends in key, token, password, secret.
            rule(
                r#"(?i)\b[A-Za-z0-9_.-]*(?:key|token|password|passwd|secret)\s*[=:]\s*["']?([^\s"'<>,;&`]+)"#,
                "values of key=, token=, password=, secret=",
                "secret",
                1,
                any,
            ),
            // 40 or more base64 characters with upper and lower case and digits: AWS
            // secret keys, key material, other tokens.
            rule(
                r"(?:^|[^A-Za-z0-9+/_])([A-Za-z0-9+/]{40,}={0,2})(?:$|[^A-Za-z0-9+/=_])",
                "long random strings (keys)",
                "secret",
                1,
                |v| {
                    v.bytes().any(|b| b.is_ascii_uppercase())
                        && v.bytes().any(|b| b.is_ascii_lowercase())
                        && v.bytes().any(|b| b.is_ascii_digit())
                },
            ),
            rule(
                r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b",
                "e-mail addresses",
                "email",
                0,
                any,
            ),
        ];
        let patterns = vec![
            // Every home directory: /home/NAME (also under /var/home, a --sysroot),
            // /Users/NAME, /root.
            rule(
                r#"(/(?:home|Users)/[^/\s"'<>:;,|`]+)"#,
                "home directories",
                "home",
                1,
                any,
            ),
            rule(
                r#"(?:^|[\s"'=:(\[,>`])(/root)(?:$|[/\s"'):,\]<`])"#,
                "home directories",
                "home",
                1,
                any,
            ),
            rule(
                r"(?i)\b[0-9a-f]{2}(?::[0-9a-f]{2}){5}\b",
                "MAC addresses",
                "mac",
                0,
                any,
            ),
            rule(
                r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b",
                "IP addresses",
                "ip",
                0,
                |v| !is_placeholder_or_loopback(v),
            ),
            // Candidates; only what parses as an IPv6 address is replaced.
            rule(
                r"(?i)(?:\b[0-9a-f]{1,4})?(?::[0-9a-f]{0,4}){2,7}\b",
                "IP addresses",
                "ip",
                0,
                |v| !is_placeholder_or_loopback(v) && v.parse::<std::net::Ipv6Addr>().is_ok(),
            ),
        ];
        Redactor {
            words,
            secrets,
            patterns,
            seen: Default::default(),
            counts: Default::default(),
            kinds: Default::default(),
        }
    }

    /// The text with every identifying value replaced.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for r in &self.secrets {
            out = self.apply(r, out);
        }
        for (re, ph, kind) in &self.words {
            if re.is_match(&out) {
                self.kinds.borrow_mut().insert(kind);
                out = re
                    .replace_all(&out, |c: &regex::Captures| {
                        format!("{}{ph}{}", &c[1], &c[2])
                    })
                    .into_owned();
                // Adjacent occurrences share a separator: a second pass catches them.
                out = re
                    .replace_all(&out, |c: &regex::Captures| {
                        format!("{}{ph}{}", &c[1], &c[2])
                    })
                    .into_owned();
            }
        }
        for r in &self.patterns {
            out = self.apply(r, out);
        }
        out
    }

    /// Replace what `r` finds (its group `r.group`) with a stable placeholder; twice, as
    /// adjacent matches share the characters around them.
    fn apply(&self, r: &Rule, text: String) -> String {
        let mut out = text;
        for _ in 0..2 {
            if !r.re.is_match(&out) {
                break;
            }
            out =
                r.re.replace_all(&out, |c: &regex::Captures| {
                    let (Some(all), Some(g)) = (c.get(0), c.get(r.group)) else {
                        return c[0].to_string();
                    };
                    let value = g.as_str();
                    let key = if matches!(r.prefix, "mac" | "ip") {
                        value.to_ascii_lowercase()
                    } else {
                        value.to_string()
                    };
                    if !(r.check)(&key) {
                        return all.as_str().to_string();
                    }
                    self.kinds.borrow_mut().insert(r.kind);
                    let ph = self
                        .seen
                        .borrow_mut()
                        .entry(format!("{}\0{key}", r.prefix))
                        .or_insert_with(|| {
                            let mut counts = self.counts.borrow_mut();
                            let n = counts.entry(r.prefix).or_default();
                            *n += 1;
                            format!("<{}-{n}>", r.prefix)
                        })
                        .clone();
                    let s = all.as_str();
                    format!(
                        "{}{ph}{}",
                        &s[..g.start() - all.start()],
                        &s[g.end() - all.start()..]
                    )
                })
                .into_owned();
        }
        out
    }

    /// The kinds of value replaced so far, sorted.
    pub fn kinds(&self) -> Vec<String> {
        self.kinds.borrow().iter().map(|k| k.to_string()).collect()
    }
}

/// Addresses that identify nobody: loopback and unspecified.
fn is_placeholder_or_loopback(v: &str) -> bool {
    v.starts_with("127.") || v == "0.0.0.0" || v == "::1" || v == "::"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r() -> Redactor {
        Redactor::new(vec![
            ("/home/bob".into(), "home directory", "<home>".into()),
            ("bob".into(), "user name", "<user>".into()),
            ("bobs-box".into(), "host name", "<host>".into()),
        ])
    }

    #[test]
    fn words_paths_and_addresses() {
        let r = r();
        let t = r.redact(
            "bob@bobs-box:/home/bob/venv bob bob; bobby robert 52:54:00:12:34:56 10.1.2.3 fe80::1c2:3ff:fe44:5566 127.0.0.1 0000:03:00.0 6.2.41133",
        );
        assert_eq!(
            t,
            "<user>@<host>:<home>/venv <user> <user>; bobby robert <mac-1> <ip-1> <ip-2> 127.0.0.1 0000:03:00.0 6.2.41133"
        );
        // Stable placeholders for the same value.
        assert_eq!(
            r.redact("10.1.2.3 and 52:54:00:12:34:56"),
            "<ip-1> and <mac-1>"
        );
        assert_eq!(
            r.kinds(),
            [
                "IP addresses",
                "MAC addresses",
                "home directory",
                "host name",
                "user name"
            ]
        );
    }

    #[test]
    fn versions_and_pci_addresses_survive() {
        let r = r();
        for keep in [
            "torch 2.12.0+rocm7.14.0",
            "gfx1010 0x731f rev ca",
            "0000:03:00.0",
            "10.3.0",
            "HIP 6.2.41133-dd7f95766",
        ] {
            assert_eq!(r.redact(keep), keep);
        }
        assert!(r.kinds().is_empty());
    }

    #[test]
    fn os_release_values() {
        let t =
            "NAME=\"Debian GNU/Linux\"\nPRETTY_NAME=\"Debian GNU/Linux 13 (trixie)\"\nID=debian\n";
        assert_eq!(
            os_release(t, "PRETTY_NAME").as_deref(),
            Some("Debian GNU/Linux 13 (trixie)")
        );
        assert_eq!(os_release(t, "ID").as_deref(), Some("debian"));
    }

    /// One of each secret the issue names; none survives, and what is not secret stays.
    #[test]
    fn secrets_of_every_kind_are_replaced() {
        let r = r();
        let planted = [
            ("ghp_1a2B3c4D5e6F7g8H9i0JkLmNoPqRsTuVwXyZ", "GitHub tokens"),
            (
                "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz",
                "GitHub tokens",
            ),
            (
                "hf_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789",
                "Hugging Face tokens",
            ),
            ("AKIAIOSFODNN7EXAMPLE", "AWS keys"),
            (
                "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                "values of key=, token=, password=, secret=",
            ),
            (
                "z8Xk2Lq9Vb4Nw7Hc1Rt6Yp3Mf5Gd0Sj8Ka2Ue4Wo",
                "long random strings (keys)",
            ),
            (
                "hunter2-correct-horse",
                "values of key=, token=, password=, secret=",
            ),
            ("s3cr3t-pw", "credentials in URLs"),
            ("carol.smith@example.org", "e-mail addresses"),
            ("AAAAC3NzaC1lZDI1NTE5AAAAIHkq", "SSH and PGP keys"),
            ("/home/dave", "home directories"),
            ("/Users/erin", "home directories"),
        ];
        let text = format!(
            "HF_TOKEN={} push {} {} aws_access_key_id={} AWS_SECRET_ACCESS_KEY={}\n\
             db password={} via https://carol:{}@git.example.org/x.git mail {}\n\
             ssh-ed25519 {}ZZZZ carol@laptop\n\
             -----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n-----END OPENSSH PRIVATE KEY-----\n\
             cache {}/.cache and {}/models and /root/.bashrc, aws secret {}",
            planted[2].0,
            planted[0].0,
            planted[1].0,
            planted[3].0,
            planted[4].0,
            planted[6].0,
            planted[7].0,
            planted[8].0,
            planted[9].0,
            planted[10].0,
            planted[11].0,
            planted[5].0,
        );
        let out = r.redact(&text);
        for (secret, kind) in planted {
            assert!(!out.contains(secret), "{secret} survived:\n{out}");
            assert!(
                r.kinds().iter().any(|k| k == kind),
                "{kind}: {:?}",
                r.kinds()
            );
        }
        for gone in [
            "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ",
            "/root",
            "OPENSSH PRIVATE KEY",
        ] {
            assert!(!out.contains(gone), "{gone} survived:\n{out}");
        }
        // The shapes around them stay readable, and the same value keeps its placeholder.
        assert!(out.contains("HF_TOKEN=<hf-token-1>"), "{out}");
        assert!(
            out.contains("https://<credentials-1>@git.example.org/x.git"),
            "{out}"
        );
        assert!(out.contains("<home-1>/.cache and <home-2>/models"), "{out}");
        assert_eq!(r.redact("again /home/dave"), "again <home-1>");
        // What a report needs is not touched.
        for keep in [
            "torch 2.12.0+rocm7.14.0 at /opt/rocm-6.2.4/lib/librocblas.so.4",
            "sha256 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            "Memory access fault by GPU node-1 (Agent handle: 0x55d0) on address 0x7f00.",
            "/usr/lib/x86_64-linux-gnu/librocsparse.so.0.1 /sysroot/x",
            "_ZN2at6native29vectorized_elementwise_kernelILi4EZZZNS0_23direct_copy",
            "tokenizer: loaded, key_count 3",
        ] {
            assert_eq!(r.redact(keep), keep);
        }
    }
}
