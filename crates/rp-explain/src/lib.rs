//! From an error log to its cause and fix.
//!
//! Lines are streamed (bounded memory whatever the log size), cleaned of ANSI colour codes
//! and CRs (a lone CR splits progress-bar segments), and matched against the knowledge
//! base's signatures (rp-kb data/signatures.toml) with one `RegexSet`. Repeats of the same
//! message are folded. A memory fault counts as `override-foreign-isa` when an override is
//! in force: seen anywhere in the log, in the environment, or given with `--env`. Likewise
//! "no GPU" counts as `gpu-hidden` when a device-visibility variable shows in the log, and a
//! DPP broadcast rejected inside MIOpen's runtime compile as `miopen-batchnorm-dpp-gfx101x`.
//! A cause's fix is its knowledge-base steps (doctor's shape), rendered one per line.
//! Nothing here prints.
#![deny(missing_docs)]

use regex::bytes::{Regex, RegexSet, RegexSetBuilder};
use rp_kb::Signature;
use rp_report::{CauseReport, ExplainEvent, ExplainReport, FixStep, SCHEMA};
use std::collections::HashMap;
use std::io::BufRead;

/// The gated signature that says an amdgpu line reports a failure: a condition for the
/// gated fallback families (`amdgpu-ras`, `amdgpu-ring`, …), never an event itself.
pub const FAILURE_WORD: &str = "amdgpu-failure-word";

/// Signatures whose pattern begins with this (the amdgpu driver's prefix or tag) are only
/// tried on lines that contain `amdgpu`, `AMDGPU`, `[drm`, `drmn` or `kfd`: a second set, so
/// the many driver-family patterns cost nothing on other lines.
pub const AMDGPU_GATE: &str = r"(?i)(?:amdgpu|\[drm|drmn\d|kfd)";

/// Longest line kept; the rest of a longer line is skipped (binary garbage, minified
/// dumps) so memory stays bounded.
pub const MAX_LINE: usize = 64 * 1024;
/// Distinct events listed; more are counted in `events_dropped`.
pub const MAX_EVENTS: usize = 2000;

/// What is known about the machine and environment.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// AMD GPUs: (true target, display name).
    pub gpus: Vec<(rp_kb::TargetId, String)>,
    /// Overrides in force (`NAME=VALUE`), from the environment or `--env`.
    pub overrides: Vec<String>,
}

/// Literals looked for on every line, each a prebuilt searcher (building one per call
/// costs more than the search).
#[derive(Clone, Copy)]
enum Lit {
    Gfx,
    Rocm,
    Radeon,
    Override,
    Visible,
    Ordinal,
    Amdgpu,
    AmdgpuUpper,
    Drm,
    Drmn,
    Kfd,
}
const LITS: [&[u8]; 11] = [
    b"gfx",
    b"+rocm",
    b"Radeon",
    b"HSA_OVERRIDE_GFX_VERSION",
    b"VISIBLE_DEVICES",
    b"GPU_DEVICE_ORDINAL",
    b"amdgpu",
    b"AMDGPU",
    b"[drm",
    b"drmn",
    b"kfd",
];
/// A line with one of these is tried against the amdgpu-gated set.
const GATE_LITS: [Lit; 5] = [Lit::Amdgpu, Lit::AmdgpuUpper, Lit::Drm, Lit::Drmn, Lit::Kfd];

/// Compiled signatures.
pub struct Classifier {
    lits: Vec<memchr::memmem::Finder<'static>>,
    set: RegexSet,
    /// How many amdgpu signatures (patterns that begin with [`AMDGPU_GATE`]) but the families
    /// tried only on lines that name the driver; their indices in `res`/`sigs` follow the
    /// main set's.
    n_gated: usize,
    /// The main and the gated signatures in one set (same indices): a line that names the
    /// driver is searched once, not twice.
    both: RegexSet,
    /// The amdgpu families (gated fallbacks), tried only when the gated set found the
    /// failure word and nothing specific; indices follow the gated set's.
    families: RegexSet,
    res: Vec<Regex>,
    sigs: Vec<&'static Signature>,
    ansi: Regex,
    override_re: Regex,
    visibility_re: Regex,
    number: Regex,
    runtime_target: Regex,
    torch_build: Regex,
    gpu_name: Regex,
}

impl Classifier {
    /// Compile the knowledge base's signatures.
    pub fn new() -> Classifier {
        let kb = rp_kb::kb();
        // Main signatures first, then the amdgpu-gated ones, then the amdgpu families: one
        // index space for the three sets.
        let (gated_sigs, main_sigs): (Vec<&'static Signature>, Vec<&'static Signature>) = kb
            .signatures()
            .iter()
            .partition(|s| s.pattern.starts_with(AMDGPU_GATE));
        let (family_sigs, gated_sigs): (Vec<&'static Signature>, Vec<&'static Signature>) =
            gated_sigs
                .into_iter()
                .partition(|s| s.fallback && s.id != FAILURE_WORD);
        let (n_main, n_gated) = (main_sigs.len(), gated_sigs.len());
        let sigs: Vec<&'static Signature> = main_sigs
            .into_iter()
            .chain(gated_sigs)
            .chain(family_sigs)
            .collect();
        // Matched on bytes with ASCII-only classes and case folding: log messages are
        // ASCII, and Unicode classes make the matcher about 100x slower on lines that
        // are not (a UTF-8 character every 60 bytes, or binary garbage).
        let pats: Vec<String> = sigs.iter().map(|s| format!("(?-u){}", s.pattern)).collect();
        // The patterns are embedded data checked by tests: failing here is a build defect.
        let build = |p: &[String]| {
            RegexSetBuilder::new(p)
                .dfa_size_limit(64 << 20)
                .build()
                .expect("signature patterns compile")
        };
        // The sets run without a literal prefilter (a leading `(?s:.)*?` leaves the
        // literal extractor nothing to use): on log lines the signatures' common words keep
        // finding candidates that the DFA then rejects, and one DFA pass is cheaper.
        let unfiltered: Vec<String> = pats.iter().map(|p| format!("(?s-u:.)*?(?:{p})")).collect();
        let set = build(&unfiltered[..n_main]);
        let both = build(&unfiltered[..n_main + n_gated]);
        let families = build(&pats[n_main + n_gated..]);
        let res = pats
            .iter()
            .map(|p| Regex::new(p).expect("signature pattern compiles"))
            .collect();
        Classifier {
            lits: LITS.iter().map(|l| memchr::memmem::Finder::new(*l)).collect(),
            set,
            n_gated,
            both,
            families,
            res,
            sigs,
            ansi: Regex::new(
                r"(?-u)\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(\x07|\x1b\\)|\x1b[@-Z\\-_]",
            )
            .expect("ansi pattern"),
            override_re: Regex::new(
                r#"(?-u)(HSA_OVERRIDE_GFX_VERSION(?:_\d+)?)\s*[=:]\s*["']?(\d+\.\d+\.\d+)"#,
            )
            .expect("override pattern"),
            visibility_re: Regex::new(
                r#"(?-u)\b((?:HIP|ROCR|CUDA)_VISIBLE_DEVICES|GPU_DEVICE_ORDINAL)\b\s*[=:]\s*["']?([0-9,]*)"#,
            )
            .expect("visibility pattern"),
            number: Regex::new(r"(?-u)0x[0-9a-fA-F]+|\d+").expect("number pattern"),
            // What the runtime reports as the GPU's target: rocminfo's `Name: gfx…` and
            // the ISA name, torch's `gcnArchName`.
            runtime_target: Regex::new(
                r"(?-u)(?:gcnArchName\W+|amdgcn-amd-amdhsa--|^\s*Name:\s+)(gfx[0-9a-f]{3,4})\b",
            )
            .expect("target pattern"),
            torch_build: Regex::new(r"(?-u)\b(\d+\.\d+\.\d+(?:\.dev\d+)?)\+rocm(\d+)\.(\d+)")
                .expect("torch pattern"),
            gpu_name: Regex::new(
                r"(?-u)AMD Radeon (?:RX|Pro|PRO) [A-Z]?\d{3,4}[A-Za-z ]{0,8}?(?: XT| XTX)?\b",
            )
            .expect("gpu name pattern"),
        }
    }
}

impl Default for Classifier {
    fn default() -> Self {
        Self::new()
    }
}

struct State<'a> {
    c: &'a Classifier,
    /// Targets the runtime reported, with where.
    runtime_targets: Vec<(String, String)>,
    /// pytorch.org-style ROCm torch builds named, with where.
    torch_builds: Vec<(String, u32, String)>,
    /// GPU names the log mentions.
    gpu_names: Vec<String>,
    events: Vec<ExplainEvent>,
    index: HashMap<(String, String), usize>,
    dropped: u64,
    evidence: Vec<String>,
    /// Where a device-visibility variable was seen set.
    visibility: Vec<String>,
    lines: u64,
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
            // Each side pattern only where its literal occurs (a memchr scan is far
            // cheaper than a regex over every line).
            let has = |lit: Lit| self.c.lits[lit as usize].find(seg).is_some();
            if self.runtime_targets.len() < 20 && has(Lit::Gfx) {
                if let Some(m) = self.c.runtime_target.captures(seg) {
                    let t = String::from_utf8_lossy(&m[1]).into_owned();
                    if !self.runtime_targets.iter().any(|(x, _)| *x == t) {
                        self.runtime_targets.push((t, format!("{file}:{no}")));
                    }
                }
            }
            if self.torch_builds.len() < 20 && has(Lit::Rocm) {
                if let Some(m) = self.c.torch_build.captures(seg) {
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
            if self.gpu_names.len() < 8 && has(Lit::Radeon) {
                if let Some(m) = self.c.gpu_name.find(seg) {
                    let n = String::from_utf8_lossy(m.as_bytes()).trim().to_string();
                    if !self.gpu_names.contains(&n) {
                        self.gpu_names.push(n);
                    }
                }
            }
            if let Some(m) = has(Lit::Override)
                .then(|| self.c.override_re.captures(seg))
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
            if self.visibility.len() < 20 && (has(Lit::Visible) || has(Lit::Ordinal)) {
                if let Some(m) = self.c.visibility_re.captures(seg) {
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
            // Which signatures match is only asked of a line that matches one: most lines
            // match none, and the yes/no search stops early and needs no overlapping scan.
            let driver = GATE_LITS.iter().any(|&l| has(l));
            let one = if driver { &self.c.both } else { &self.c.set };
            let mut hits: Vec<usize> = if one.is_match(seg) {
                one.matches(seg).into_iter().collect()
            } else {
                Vec::new()
            };
            if driver && !hits.is_empty() {
                let base = self.c.set.len();
                let failure = hits.iter().any(|&i| self.c.sigs[i].id == FAILURE_WORD);
                if failure && hits.iter().all(|&i| self.c.sigs[i].fallback) {
                    let base = base + self.c.n_gated;
                    hits.extend(self.c.families.matches(seg).into_iter().map(|i| base + i));
                }
            }
            if hits.is_empty() {
                continue;
            }
            let specific = hits.iter().any(|&i| !self.c.sigs[i].fallback);
            // The amdgpu families: only with a failure word on the line, and only the first
            // family listed (a line names one block).
            let failure = hits.iter().any(|&i| self.c.sigs[i].id == FAILURE_WORD);
            let mut family_seen = false;
            let mut causes_here = Vec::new();
            for i in hits {
                let sig = self.c.sigs[i];
                if sig.fallback && specific || sig.id == FAILURE_WORD {
                    continue;
                }
                if sig.fallback && i >= self.c.set.len() {
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
                let gpu = self.c.res[i].captures(seg).and_then(|c| {
                    c.name("gpu")
                        .map(|m| String::from_utf8_lossy(m.as_bytes()).into_owned())
                });
                let key = (
                    sig.id.clone(),
                    String::from_utf8_lossy(&self.c.number.replace_all(seg, &b"#"[..]))
                        .into_owned(),
                );
                if let Some(&k) = self.index.get(&key) {
                    self.events[k].count += 1;
                    continue;
                }
                if self.events.len() >= MAX_EVENTS {
                    self.dropped += 1;
                    continue;
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
    }
}

/// Stream one input through the classifier, line by line, in bounded memory.
fn feed(st: &mut State<'_>, name: &str, mut r: impl BufRead) -> std::io::Result<()> {
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

/// A cause's fix as steps (doctor's shape), `{gpu}` filled (or `<your gfx target>`).
pub fn cause_steps(cause: &str, gpu: Option<&str>) -> Vec<FixStep> {
    let g = gpu.unwrap_or("<your gfx target>");
    let fill = |s: &Option<String>| s.as_ref().map(|t| rp_kb::fill(t, &[("gpu", g)]));
    rp_kb::kb()
        .cause(cause)
        .steps
        .iter()
        .map(|s| FixStep {
            command: fill(&s.command),
            note: fill(&s.note),
            needs_root: s.needs_root,
            alternative: s.alternative,
        })
        .collect()
}

/// Steps as text, one a line: `$ command  # note`, a lone note, `or instead:` before an
/// alternative.
fn render_steps(steps: &[FixStep]) -> String {
    let mut out = String::new();
    for s in steps {
        if !out.is_empty() {
            out.push('\n');
        }
        if s.alternative {
            out.push_str("or instead: ");
        }
        match (&s.command, &s.note) {
            (Some(c), Some(n)) => out.push_str(&format!("$ {c}  # {n}")),
            (Some(c), None) => out.push_str(&format!("$ {c}")),
            (None, Some(n)) => out.push_str(n),
            (None, None) => {}
        }
    }
    out
}

fn fill_fix(cause: &str, gpu: Option<&str>, ctx: &Context) -> String {
    let kb = rp_kb::kb();
    let c = kb.cause(cause);
    let gpu = gpu
        .map(str::to_string)
        .or_else(|| ctx.gpus.first().map(|(g, _)| g.to_string()));
    let mut fix = rp_kb::fill(
        &c.fix,
        &[("gpu", gpu.as_deref().unwrap_or("<your gfx target>"))],
    );
    let steps = render_steps(&cause_steps(cause, gpu.as_deref()));
    if !steps.is_empty() {
        fix.push('\n');
        fix.push_str(&steps);
    }
    if let Some(g) = gpu.as_deref() {
        if matches!(
            cause,
            "override-foreign-isa" | "missing-code-object" | "missing-tensile-library"
        ) {
            if let Some(s) = kb.stacks_for(g).first() {
                fix.push_str(&format!("\n# {} for {g}:", s.title));
                for cmd in s.commands_for(g) {
                    fix.push('\n');
                    fix.push_str(&cmd);
                }
            }
        }
    }
    fix
}

/// With a fault and no override in sight: what the log shows only an override does (the
/// runtime reporting a foreign target for the GPU, or a pytorch.org build running on a
/// GPU it has no code for).
fn inferred_override(st: &State, ctx: &Context) -> Vec<String> {
    let kb = rp_kb::kb();
    let true_targets: Vec<(String, String)> = if ctx.gpus.is_empty() {
        st.gpu_names
            .iter()
            .filter_map(|n| Some((kb.target_by_marketing_name(n)?, n.clone())))
            .collect()
    } else {
        ctx.gpus
            .iter()
            .map(|(t, n)| (t.to_string(), n.clone()))
            .collect()
    };
    let mut inferred = Vec::new();
    {
        for (t, name) in &true_targets {
            for (r, at) in &st.runtime_targets {
                if matches!(kb.override_compat(t, r), rp_kb::OverrideCompat::Foreign) {
                    inferred.push(format!(
                        "{at}: the runtime reported {r} on {name} ({t}), which only an override does"
                    ));
                }
            }
            let not_in_pytorch_org = kb.stacks_for(t).iter().all(|s| s.id != "pytorch-org");
            for (v, major, at) in &st.torch_builds {
                // pytorch.org's ROCm wheels (ROCm 6 and older here) carry no code for
                // targets outside their list (pytorch/pytorch#132570): torch only saw
                // the GPU because an override renamed it.
                if not_in_pytorch_org && *major < 7 {
                    inferred.push(format!(
                        "{at}: torch {v} (a pytorch.org ROCm build) has no {t} code for {name}, so it could only run under an override"
                    ));
                }
            }
        }
    }
    inferred
}

/// Classify inputs (name, reader). Unreadable inputs are reported and the rest goes on.
pub fn explain<R: BufRead>(
    c: &Classifier,
    inputs: Vec<(String, std::io::Result<R>)>,
    ctx: &Context,
) -> ExplainReport {
    let mut st = State {
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
    };
    let mut errors = Vec::new();
    for (name, r) in inputs {
        match r.and_then(|r| feed(&mut st, &name, r)) {
            Ok(()) => {}
            Err(e) => errors.push(format!("{name}: {e}")),
        }
    }
    // Override evidence counts where it makes a GPU of the machine (or named in the log)
    // run code it cannot execute; one its knowledge base rates equivalent or risky for
    // the GPU (`11.0.0` on gfx1103) is not a foreign-ISA fault (issue 29: explain said
    // foreign where doctor said risky). With no GPU known, every override counts.
    let known: Vec<String> = if ctx.gpus.is_empty() {
        st.gpu_names
            .iter()
            .filter_map(|n| rp_kb::kb().target_by_marketing_name(n))
            .collect()
    } else {
        ctx.gpus.iter().map(|(t, _)| t.to_string()).collect()
    };
    let foreign = |text: &str| -> bool {
        let Some(m) = c.override_re.captures(text.as_bytes()) else {
            return true;
        };
        let value = String::from_utf8_lossy(&m[2]).into_owned();
        let Some(code) =
            rp_kb::GfxVersion::parse_override(&value).and_then(rp_kb::GfxVersion::gfx_name)
        else {
            return true;
        };
        known.is_empty()
            || known.iter().any(|t| {
                matches!(
                    rp_kb::kb().override_compat(t, &code),
                    rp_kb::OverrideCompat::Foreign
                )
            })
    };
    let mut evidence: Vec<String> = std::mem::take(&mut st.evidence)
        .into_iter()
        .filter(|e| foreign(e))
        .collect();
    for o in &ctx.overrides {
        if foreign(o) {
            evidence.push(o.clone());
        }
    }
    // What the log itself shows: the GPU it ran on (from the machine, or named in the
    // log) against the target the runtime reported, or a torch build that carries no
    // code for it. Either, with a fault, means an override was in force where the
    // program started, even if this shell has none.
    let kb = rp_kb::kb();
    let faulted = st.events.iter().any(|e| e.cause == "memory-access-fault");
    let mut inferred = if faulted && evidence.is_empty() {
        inferred_override(&st, ctx)
    } else {
        Vec::new()
    };
    if !inferred.is_empty() {
        inferred.push(
            "no override is set here: it was set where the program started (a launcher or wrapper script, a systemd service's Environment=, a container's environment, a desktop file, a notebook kernel.json, or a shell startup file: `rocm-patch doctor` lists those)".into(),
        );
        evidence.extend(inferred);
    }
    let mut events = st.events;
    // No GPU while a visibility variable is set: the variable hid it.
    let hidden = !st.visibility.is_empty();
    // A DPP broadcast rejected while MIOpen compiled a kernel at run time: that kernel is
    // batch-norm's reduction (the only MIOpen source using row_bcast on GFX10).
    let miopen = events
        .iter()
        .any(|e| e.cause == "miopen-failure" || e.cause == "miopen-batchnorm-dpp-gfx101x");
    // The GPU each event names (else the machine's), for the causes' GPU-specific notes.
    let mut event_gpus: Vec<String> = Vec::with_capacity(events.len());
    for e in &mut events {
        let gpu = std::mem::take(&mut e.fix);
        event_gpus.push(if gpu.is_empty() {
            ctx.gpus
                .first()
                .map(|g| g.0.processor.clone())
                .unwrap_or_default()
        } else {
            gpu.clone()
        });
        if e.cause == "memory-access-fault" && !evidence.is_empty() {
            e.cause = "override-foreign-isa".into();
        }
        if hidden && NO_GPU_SIGNATURES.contains(&e.signature.as_str()) {
            e.cause = "gpu-hidden".into();
        }
        if miopen && DPP_BROADCAST_SIGNATURES.contains(&e.signature.as_str()) {
            e.cause = "miopen-batchnorm-dpp-gfx101x".into();
        }
        e.fix = fill_fix(&e.cause, (!gpu.is_empty()).then_some(gpu.as_str()), ctx);
    }
    let mut causes: Vec<CauseReport> = Vec::new();
    for (e, gpu) in events.iter().zip(&event_gpus) {
        match causes.iter_mut().find(|c| c.id == e.cause) {
            Some(c) => c.events += 1,
            None => {
                let k = kb.cause(&e.cause);
                let (explanation, reference) = rp_kb::fill_noted(
                    &k.explanation,
                    &k.reference,
                    &k.notes,
                    &[("gpu", gpu.as_str())],
                );
                causes.push(CauseReport {
                    id: k.id.clone(),
                    title: k.title.clone(),
                    explanation,
                    fix: e.fix.clone(),
                    reference,
                    benign: k.benign,
                    events: 1,
                });
            }
        }
    }
    // Most specific first; among equals, the one seen first.
    causes.sort_by_key(|c| std::cmp::Reverse(kb.cause(&c.id).rank));
    let primary_cause = causes.first().map(|c| c.id.clone());
    ExplainReport {
        schema: SCHEMA,
        events,
        primary_cause,
        causes,
        override_evidence: evidence,
        gpus: ctx.gpus.iter().map(|(g, n)| format!("{g} ({n})")).collect(),
        lines: st.lines,
        errors,
        events_dropped: st.dropped,
        trace_evidence: Vec::new(),
    }
}

/// Signatures that say "no GPU at all".
const NO_GPU_SIGNATURES: &[&str] = &["hip-no-device", "torch-no-hip-gpus"];
/// Signatures of a DPP row broadcast the target lacks.
const DPP_BROADCAST_SIGNATURES: &[&str] = &[
    "llvm-dpp-broadcast-gfx10",
    "asm-row-bcast",
    "llvm-not-a-valid-operand",
];

/// Exit-worthy: something recognised that is not benign.
pub fn has_problem(r: &ExplainReport) -> bool {
    r.causes.iter().any(|c| !c.benign)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(log: &str, ctx: &Context) -> ExplainReport {
        let c = Classifier::new();
        explain(&c, vec![("log".to_string(), Ok(log.as_bytes()))], ctx)
    }

    #[test]
    fn every_signature_compiles() {
        let c = Classifier::new();
        assert_eq!(c.res.len(), rp_kb::kb().signatures().len());
    }

    #[test]
    fn long_lines_and_garbage_are_bounded() {
        let mut log = vec![b'x'; MAX_LINE * 3];
        log.extend_from_slice(b"\nhipErrorNoBinaryForGpu\n\xff\xfe\x00garbage\n");
        let r = explain(
            &Classifier::new(),
            vec![("g".to_string(), Ok(&log[..]))],
            &Context::default(),
        );
        assert_eq!(r.lines, 3);
        assert_eq!(r.events[0].line, 2);
    }

    #[test]
    fn fallback_only_without_a_specific_match() {
        let r = run(
            "RuntimeError: HIP error: invalid device function\n",
            &Context::default(),
        );
        assert_eq!(r.events.len(), 1);
        assert_eq!(r.events[0].cause, "missing-code-object");
        let r = run(
            "RuntimeError: HIP error: something new\n",
            &Context::default(),
        );
        assert_eq!(r.events[0].cause, "unknown");
    }
}
