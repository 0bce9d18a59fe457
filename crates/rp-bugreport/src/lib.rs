//! What `rocm-patch report` needs beyond the other commands' reports: the installed
//! versions, the amdgpu lines of the kernel log, and redaction.
//!
//! [`Redactor`] replaces what identifies a person or a machine — the user name, the home
//! directory, the host name, the machine-id, GPU serial numbers and unique ids, MAC and IP
//! addresses — with stable placeholders (`<user>`, `<mac-1>`, …) and remembers which
//! kinds it replaced. Values it learns from the machine are replaced wherever they stand
//! as a whole word; addresses are found by pattern. Nothing here prints or writes.
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
    patterns: Vec<(Regex, &'static str, &'static str)>,
    /// Placeholders given to pattern matches, by value.
    seen: std::cell::RefCell<BTreeMap<String, String>>,
    counts: std::cell::RefCell<BTreeMap<&'static str, usize>>,
    kinds: std::cell::RefCell<BTreeSet<&'static str>>,
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
        let patterns = vec![
            (
                Regex::new(r"(?i)\b[0-9a-f]{2}(?::[0-9a-f]{2}){5}\b").expect("MAC"),
                "MAC addresses",
                "mac",
            ),
            (
                Regex::new(
                    r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b",
                )
                .expect("IPv4"),
                "IP addresses",
                "ip",
            ),
            (
                // Candidates; only what parses as an IPv6 address is replaced.
                Regex::new(r"(?i)(?:\b[0-9a-f]{1,4})?(?::[0-9a-f]{0,4}){2,7}\b").expect("IPv6"),
                "IP addresses",
                "ip",
            ),
        ];
        Redactor {
            words,
            patterns,
            seen: Default::default(),
            counts: Default::default(),
            kinds: Default::default(),
        }
    }

    /// The text with every identifying value replaced.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
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
        for (re, kind, prefix) in &self.patterns {
            if !re.is_match(&out) {
                continue;
            }
            out = re
                .replace_all(&out, |c: &regex::Captures| {
                    let v = c[0].to_ascii_lowercase();
                    if kind == &"IP addresses"
                        && (is_placeholder_or_loopback(&v)
                            || (v.contains(':') && v.parse::<std::net::Ipv6Addr>().is_err()))
                    {
                        return c[0].to_string();
                    }
                    self.kinds.borrow_mut().insert(kind);
                    let mut seen = self.seen.borrow_mut();
                    seen.entry(v)
                        .or_insert_with(|| {
                            let mut counts = self.counts.borrow_mut();
                            let n = counts.entry(prefix).or_default();
                            *n += 1;
                            format!("<{prefix}-{n}>")
                        })
                        .clone()
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
}
