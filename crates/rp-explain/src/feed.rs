//! The state fed line by line: lines cleaned of ANSI codes and split at CRs, the facts the
//! log states on the side (runtime targets, torch builds, GPU names, overrides,
//! visibility variables), and one event per signature and message, repeats folded.

use crate::classifier::{Lit, GATE_LITS};
use crate::{Classifier, FAILURE_WORD, MAX_EVENTS, MAX_LINE};
use rp_report::ExplainEvent;
use std::collections::HashMap;
use std::io::BufRead;

/// What the log said so far.
pub(crate) struct State<'a> {
    pub(crate) c: &'a Classifier,
    /// Targets the runtime reported, with where.
    pub(crate) runtime_targets: Vec<(String, String)>,
    /// pytorch.org-style ROCm torch builds named, with where.
    pub(crate) torch_builds: Vec<(String, u32, String)>,
    /// GPU names the log mentions.
    pub(crate) gpu_names: Vec<String>,
    pub(crate) events: Vec<ExplainEvent>,
    pub(crate) index: HashMap<(String, String), usize>,
    pub(crate) dropped: u64,
    pub(crate) evidence: Vec<String>,
    /// Where a device-visibility variable was seen set.
    pub(crate) visibility: Vec<String>,
    pub(crate) lines: u64,
}

impl<'a> State<'a> {
    /// Nothing seen yet.
    pub(crate) fn new(c: &'a Classifier) -> State<'a> {
        State {
            c,
            runtime_targets: Vec::new(),
            torch_builds: Vec::new(),
            gpu_names: Vec::new(),
            events: Vec::new(),
            index: HashMap::new(),
            dropped: 0,
            evidence: Vec::new(),
            visibility: Vec::new(),
            lines: 0,
        }
    }
}

impl State<'_> {
    fn line(&mut self, file: &str, no: u64, raw: &[u8]) {
        let cleaned;
        let text: &[u8] = if memchr::memchr(0x1b, raw).is_some() {
            cleaned = self.c.ansi.replace_all(raw, &b""[..]).into_owned();
            &cleaned
        } else {
            raw
        };
        for seg in text.split(|&b| b == b'\r') {
            let seg = seg.trim_ascii();
            if seg.is_empty() {
                continue;
            }
            self.runtime_facts(file, no, seg);
            self.variables(file, no, seg);
            let hits = self.hits(seg);
            if hits.is_empty() {
                continue;
            }
            self.events_of(file, no, seg, hits);
        }
    }

    /// The targets the runtime reported, torch builds and GPU names on a segment. Each side
    /// pattern only where its literal occurs (a memchr scan is far cheaper than a regex
    /// over every line).
    fn runtime_facts(&mut self, file: &str, no: u64, seg: &[u8]) {
        let c = self.c;
        if self.runtime_targets.len() < 20 && c.has(seg, Lit::Gfx) {
            if let Some(m) = c.runtime_target.captures(seg) {
                let t = String::from_utf8_lossy(&m[1]).into_owned();
                if !self.runtime_targets.iter().any(|(x, _)| *x == t) {
                    self.runtime_targets.push((t, format!("{file}:{no}")));
                }
            }
        }
        if self.torch_builds.len() < 20 && c.has(seg, Lit::Rocm) {
            if let Some(m) = c.torch_build.captures(seg) {
                let v = format!(
                    "{}+rocm{}.{}",
                    String::from_utf8_lossy(&m[1]),
                    String::from_utf8_lossy(&m[2]),
                    String::from_utf8_lossy(&m[3])
                );
                let major = String::from_utf8_lossy(&m[2]).parse().unwrap_or(0);
                if !self.torch_builds.iter().any(|(x, _, _)| *x == v) {
                    self.torch_builds.push((v, major, format!("{file}:{no}")));
                }
            }
        }
        if self.gpu_names.len() < 8 && c.has(seg, Lit::Radeon) {
            if let Some(m) = c.gpu_name.find(seg) {
                let n = String::from_utf8_lossy(m.as_bytes()).trim().to_string();
                if !self.gpu_names.contains(&n) {
                    self.gpu_names.push(n);
                }
            }
        }
    }

    /// Overrides and device-visibility variables set on a segment.
    fn variables(&mut self, file: &str, no: u64, seg: &[u8]) {
        let c = self.c;
        if let Some(m) = c
            .has(seg, Lit::Override)
            .then(|| c.override_re.captures(seg))
            .flatten()
        {
            let e = format!(
                "{file}:{no}: {}={}",
                String::from_utf8_lossy(&m[1]),
                String::from_utf8_lossy(&m[2])
            );
            if self.evidence.len() < 20 && !self.evidence.contains(&e) {
                self.evidence.push(e);
            }
        }
        if self.visibility.len() < 20 && (c.has(seg, Lit::Visible) || c.has(seg, Lit::Ordinal)) {
            if let Some(m) = c.visibility_re.captures(seg) {
                let e = format!(
                    "{file}:{no}: {}={}",
                    String::from_utf8_lossy(&m[1]),
                    String::from_utf8_lossy(&m[2])
                );
                if !self.visibility.contains(&e) {
                    self.visibility.push(e);
                }
            }
        }
    }

    /// The signatures a segment matches (indices into `sigs`), the amdgpu families added
    /// where the driver's failure word is all the gated set found.
    fn hits(&self, seg: &[u8]) -> Vec<usize> {
        let c = self.c;
        // Which signatures match is only asked of a line that matches one: most lines
        // match none, and the yes/no search stops early and needs no overlapping scan.
        let driver = GATE_LITS.iter().any(|&l| c.has(seg, l));
        let one = if driver { &c.both } else { &c.set };
        let mut hits: Vec<usize> = if one.is_match(seg) {
            one.matches(seg).into_iter().collect()
        } else {
            Vec::new()
        };
        if driver && !hits.is_empty() {
            let base = c.set.len();
            let failure = hits.iter().any(|&i| c.sigs[i].id == FAILURE_WORD);
            if failure && hits.iter().all(|&i| c.sigs[i].fallback) {
                let base = base + c.n_gated;
                hits.extend(c.families.matches(seg).into_iter().map(|i| base + i));
            }
        }
        hits
    }

    /// The events of a segment's matches: fallbacks only without a specific match, one
    /// event per cause.
    fn events_of(&mut self, file: &str, no: u64, seg: &[u8], hits: Vec<usize>) {
        let c = self.c;
        let specific = hits.iter().any(|&i| !c.sigs[i].fallback);
        // The amdgpu families: only with a failure word on the line, and only the first
        // family listed (a line names one block).
        let failure = hits.iter().any(|&i| c.sigs[i].id == FAILURE_WORD);
        let mut family_seen = false;
        let mut causes_here = Vec::new();
        for i in hits {
            let sig = c.sigs[i];
            if sig.fallback && specific || sig.id == FAILURE_WORD {
                continue;
            }
            if sig.fallback && i >= c.set.len() {
                if !failure || family_seen {
                    continue;
                }
                family_seen = true;
            }
            // One event per cause per line: the first (most specific listed) signature.
            if causes_here.contains(&sig.cause) {
                continue;
            }
            causes_here.push(sig.cause.clone());
            self.event(file, no, seg, i);
        }
    }

    /// Signature `i` matched a segment: a new event, or one more of the same message
    /// (numbers aside).
    fn event(&mut self, file: &str, no: u64, seg: &[u8], i: usize) {
        let c = self.c;
        let sig = c.sigs[i];
        let gpu = c.res[i].captures(seg).and_then(|c| {
            c.name("gpu")
                .map(|m| String::from_utf8_lossy(m.as_bytes()).into_owned())
        });
        let key = (
            sig.id.clone(),
            String::from_utf8_lossy(&c.number.replace_all(seg, &b"#"[..])).into_owned(),
        );
        if let Some(&k) = self.index.get(&key) {
            self.events[k].count += 1;
            return;
        }
        if self.events.len() >= MAX_EVENTS {
            self.dropped += 1;
            return;
        }
        self.index.insert(key, self.events.len());
        self.events.push(ExplainEvent {
            cause: sig.cause.clone(),
            signature: sig.id.clone(),
            file: file.to_string(),
            line: no,
            text: String::from_utf8_lossy(seg).chars().take(2000).collect(),
            // Filled in once the whole log is read (override evidence, GPU).
            fix: gpu.unwrap_or_default(),
            count: 1,
            reference: sig.reference.clone(),
        });
    }
}

/// Stream one input through the classifier, line by line, in bounded memory.
pub(crate) fn feed(st: &mut State<'_>, name: &str, mut r: impl BufRead) -> std::io::Result<()> {
    let mut line: Vec<u8> = Vec::with_capacity(1024);
    let mut no = 0u64;
    loop {
        let buf = r.fill_buf()?;
        if buf.is_empty() {
            if !line.is_empty() {
                no += 1;
                st.line(name, no, &line);
            }
            break;
        }
        let (take, end) = match memchr::memchr(b'\n', buf) {
            Some(i) => (i, true),
            None => (buf.len(), false),
        };
        let room = MAX_LINE.saturating_sub(line.len());
        line.extend_from_slice(&buf[..take.min(room)]);
        r.consume(if end { take + 1 } else { take });
        if end {
            no += 1;
            st.line(name, no, &line);
            line.clear();
        }
    }
    st.lines += no;
    Ok(())
}
