//! The record `rp-trace-preload` writes (JSON lines, one file per process), read back and
//! summarised for `rocm-patch trace` and `explain --trace`. Nothing here prints.
//!
//! Record fields (format 1): every line has `t` (monotonic ns), `tid` and `ev`:
//! `start` (pid, exe, policy), `fatbin` (fatbin id, magic, lib, targets, compressed,
//! kpack, error), `kernel` (k, name, api, fatbin), `launch` (api, k or fn, grid, block,
//! shared), `module`, `alloc` (api, size, ptr, flags, flag_names, asked, asked_names, ret),
//! `free`, `devices`, `error` (api, ret), `missing` (api), `disabled` (why), `exit`.
#![deny(missing_docs)]

use rp_report::{
    TraceAlloc, TraceError, TraceFatbin, TraceKernel, TraceLaunch, TraceReport, SCHEMA,
};
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};

/// The most of one record file that is read.
pub const MAX_FILE: u64 = 1 << 30;

/// One record as written.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct Record {
    /// Monotonic nanoseconds.
    pub t: u64,
    /// Thread id.
    pub tid: u32,
    /// Event kind.
    pub ev: String,
    /// The API called.
    pub api: Option<String>,
    /// Process id (`start`).
    pub pid: Option<u32>,
    /// Policy (`start`).
    pub policy: Option<String>,
    /// Fat binary id.
    pub fatbin: Option<u32>,
    /// Wrapper magic.
    pub magic: Option<String>,
    /// The object the fat binary or image lives in.
    pub lib: Option<String>,
    /// Code-object targets.
    pub targets: Option<Vec<String>>,
    /// A compressed bundle.
    pub compressed: Option<bool>,
    /// A kpack reference.
    pub kpack: Option<serde_json::Value>,
    /// Kernel id.
    pub k: Option<u32>,
    /// Launched address of an unregistered kernel.
    #[serde(rename = "fn")]
    pub func: Option<u64>,
    /// Kernel name.
    pub name: Option<String>,
    /// Grid.
    pub grid: Option<[u32; 3]>,
    /// Block.
    pub block: Option<[u32; 3]>,
    /// Size.
    pub size: Option<u64>,
    /// Flags applied (names).
    pub flag_names: Option<String>,
    /// Flags asked for (names), when a policy changed them.
    pub asked_names: Option<String>,
    /// Return value.
    pub ret: Option<i32>,
    /// An error reading the fat binary, or why tracing stopped.
    pub error: Option<String>,
    /// Why tracing was disabled.
    pub why: Option<String>,
    /// What `t` counts (`start`): `tsc` (the CPU's time-stamp counter) or `ns`.
    pub clock: Option<String>,
    /// The time-stamp counter (`clock`).
    pub tsc: Option<u64>,
    /// CLOCK_MONOTONIC nanoseconds read with it (`clock`).
    pub ns: Option<u64>,
}

/// Converts a process's `t` values to CLOCK_MONOTONIC nanoseconds.
#[derive(Debug, Clone, Copy)]
struct Clock {
    /// (t, ns) at the first calibration, and ns per tick.
    at: (u64, u64),
    rate: f64,
}

impl Clock {
    /// From the `clock` records: `None` when `t` counts ticks and fewer than two
    /// calibrations were written (a process that died within 10 ms).
    fn of(p: &ProcessTrace) -> Option<Clock> {
        let tsc = p
            .records
            .iter()
            .find(|r| r.ev == "start")
            .and_then(|r| r.clock.as_deref())
            == Some("tsc");
        if !tsc {
            return Some(Clock {
                at: (0, 0),
                rate: 1.0,
            });
        }
        let pairs: Vec<(u64, u64)> = p
            .records
            .iter()
            .filter(|r| r.ev == "clock")
            .filter_map(|r| Some((r.tsc?, r.ns?)))
            .collect();
        let (first, last) = (pairs.first()?, pairs.last()?);
        if last.0 <= first.0 || last.1 <= first.1 {
            return None;
        }
        Some(Clock {
            at: *first,
            rate: (last.1 - first.1) as f64 / (last.0 - first.0) as f64,
        })
    }

    fn ns(&self, t: u64) -> f64 {
        self.at.1 as f64 + (t as f64 - self.at.0 as f64) * self.rate
    }
}

/// One process's records.
#[derive(Debug, Clone, Default)]
pub struct ProcessTrace {
    /// The file.
    pub file: PathBuf,
    /// Its records in order.
    pub records: Vec<Record>,
    /// Lines that did not parse.
    pub bad_lines: u64,
    /// It ends with an `exit` record.
    pub exited: bool,
}

/// The record files of a trace: `FILE` and `FILE.<pid>` (children), in name order.
pub fn files(base: &Path) -> Vec<PathBuf> {
    let mut v = Vec::new();
    if base.exists() {
        v.push(base.to_path_buf());
    }
    let (Some(dir), Some(name)) = (base.parent(), base.file_name()) else {
        return v;
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let prefix = format!("{}.", name.to_string_lossy());
    if let Ok(rd) = std::fs::read_dir(dir) {
        let mut kids: Vec<PathBuf> = rd
            .filter_map(|e| e.ok())
            .filter(|e| {
                let n = e.file_name().to_string_lossy().into_owned();
                n.strip_prefix(&prefix)
                    .is_some_and(|pid| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
            })
            .map(|e| e.path())
            .collect();
        kids.sort();
        v.extend(kids);
    }
    v
}

/// Read one record file: a regular file, opened without blocking, at most [`MAX_FILE`]
/// bytes; zeros left by a killed process are skipped.
pub fn read(path: &Path) -> Result<ProcessTrace, String> {
    let (f, _) = rp_machine::open_regular(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut data = Vec::new();
    f.take(MAX_FILE)
        .read_to_end(&mut data)
        .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    Ok(parse(path, &data))
}

/// Parse record bytes.
pub fn parse(path: &Path, data: &[u8]) -> ProcessTrace {
    let mut t = ProcessTrace {
        file: path.to_path_buf(),
        ..Default::default()
    };
    for line in data.split(|&b| b == b'\n') {
        // A record reserved but never copied (the process died in between) is zeros.
        let line: Vec<u8> = line.iter().copied().filter(|&b| b != 0).collect();
        if line.iter().all(|b| b.is_ascii_whitespace()) {
            continue;
        }
        match serde_json::from_slice::<Record>(&line) {
            Ok(r) => t.records.push(r),
            Err(_) => t.bad_lines += 1,
        }
    }
    t.exited = t.records.last().is_some_and(|r| r.ev == "exit");
    t
}

/// hipError_t names (HIP's include/hip/hip_runtime_api.h, enum hipError_t).
pub fn hip_error_name(code: i32) -> Option<&'static str> {
    Some(match code {
        0 => "hipSuccess",
        1 => "hipErrorInvalidValue",
        2 => "hipErrorOutOfMemory",
        3 => "hipErrorNotInitialized",
        4 => "hipErrorDeinitialized",
        9 => "hipErrorInvalidConfiguration",
        17 => "hipErrorInvalidDevicePointer",
        35 => "hipErrorInsufficientDriver",
        52 => "hipErrorMissingConfiguration",
        53 => "hipErrorPriorLaunchFailure",
        98 => "hipErrorInvalidDeviceFunction",
        100 => "hipErrorNoDevice",
        101 => "hipErrorInvalidDevice",
        200 => "hipErrorInvalidImage",
        201 => "hipErrorInvalidContext",
        209 => "hipErrorNoBinaryForGpu",
        218 => "hipErrorInvalidKernelFile",
        301 => "hipErrorFileNotFound",
        302 => "hipErrorSharedObjectSymbolNotFound",
        303 => "hipErrorSharedObjectInitFailed",
        304 => "hipErrorOperatingSystem",
        400 => "hipErrorInvalidHandle",
        500 => "hipErrorNotFound",
        600 => "hipErrorNotReady",
        700 => "hipErrorIllegalAddress",
        701 => "hipErrorLaunchOutOfResources",
        702 => "hipErrorLaunchTimeOut",
        710 => "hipErrorAssert",
        801 => "hipErrorNotSupported",
        999 => "hipErrorUnknown",
        1052 => "hipErrorRuntimeMemory",
        1053 => "hipErrorRuntimeOther",
        _ => return None,
    })
}

/// The kpack reference of a fat binary, as one line.
fn kpack_line(v: &serde_json::Value) -> String {
    let name = v["kernel_name"].as_str().unwrap_or("?");
    let search: Vec<&str> = v["search"]
        .as_array()
        .map(|a| a.iter().filter_map(|s| s.as_str()).collect())
        .unwrap_or_default();
    format!("{name} in {}", search.join(", "))
}

/// Whether any of `targets` runs on `gpu`.
fn runs_on(gpu: &str, targets: &[String]) -> Option<bool> {
    let kb = rp_kb::kb();
    let g: rp_kb::TargetId = gpu.parse().ok()?;
    Some(targets.iter().any(|t| {
        t.parse::<rp_kb::TargetId>()
            .is_ok_and(|c| kb.compat(&g, &c).loadable())
    }))
}

/// Summarise the processes' records. `gpu` is the target fat binaries are checked
/// against.
pub fn summarize(procs: &[ProcessTrace], gpu: Option<&str>) -> TraceReport {
    let mut r = TraceReport {
        schema: SCHEMA,
        policy: "none".into(),
        gpu: gpu.map(String::from),
        ..Default::default()
    };
    let clocks: Vec<Option<Clock>> = procs.iter().map(Clock::of).collect();
    let t0 = procs
        .iter()
        .zip(&clocks)
        .filter_map(|(p, c)| Some(c.as_ref()?.ns(p.records.first()?.t)))
        .fold(f64::INFINITY, f64::min);
    let mut launches: Vec<TraceLaunch> = Vec::new();
    let mut kernel_counts: BTreeMap<(String, Option<String>), u64> = BTreeMap::new();
    let mut allocs: BTreeMap<(String, Option<String>, Option<String>), TraceAlloc> =
        BTreeMap::new();
    let mut errors: BTreeMap<(String, i32), u64> = BTreeMap::new();
    let mut fatbin_base = 0u32;
    for (p, clock) in procs.iter().zip(&clocks) {
        r.files.push(p.file.display().to_string());
        r.records += p.records.len() as u64;
        r.bad_lines += p.bad_lines;
        if !p.exited && !p.records.is_empty() {
            r.ended_abnormally = true;
        }
        // Ids are per process: kernels map to (name, lib).
        let mut kernels: HashMap<u32, (String, Option<String>)> = HashMap::new();
        let mut fatbin_lib: HashMap<u32, Option<String>> = HashMap::new();
        let mut max_fatbin = 0;
        for rec in &p.records {
            match rec.ev.as_str() {
                "start" => {
                    if let Some(pol) = &rec.policy {
                        r.policy = pol.clone();
                    }
                }
                "fatbin" => {
                    let id = rec.fatbin.unwrap_or(0);
                    max_fatbin = max_fatbin.max(id + 1);
                    fatbin_lib.insert(id, rec.lib.clone());
                    let targets = rec.targets.clone().unwrap_or_default();
                    let kpack = rec.kpack.as_ref().map(kpack_line);
                    r.fatbins.push(TraceFatbin {
                        id: fatbin_base + id,
                        lib: rec.lib.clone(),
                        magic: rec.magic.clone(),
                        runs_here: match (gpu, &kpack) {
                            (Some(g), None) => runs_on(g, &targets),
                            _ => None,
                        },
                        targets,
                        compressed: rec.compressed.unwrap_or(false),
                        kpack,
                        error: rec.error.clone(),
                    });
                }
                "kernel" => {
                    let lib = rec
                        .fatbin
                        .and_then(|f| fatbin_lib.get(&f).cloned().flatten());
                    kernels.insert(
                        rec.k.unwrap_or(u32::MAX),
                        (rec.name.clone().unwrap_or_default(), lib),
                    );
                }
                "launch" => {
                    r.launches += 1;
                    let (name, lib) = match rec.k.and_then(|k| kernels.get(&k)) {
                        Some((n, l)) => (n.clone(), l.clone()),
                        None => (
                            format!("unregistered kernel at {:#x}", rec.func.unwrap_or(0)),
                            None,
                        ),
                    };
                    *kernel_counts.entry((name.clone(), lib.clone())).or_default() += 1;
                    launches.push(TraceLaunch {
                        ms: clock.map(|c| (c.ns(rec.t) - t0) / 1e6),
                        tid: rec.tid,
                        api: rec.api.clone().unwrap_or_default(),
                        kernel: name,
                        lib,
                        grid: rec.grid.unwrap_or_default(),
                        block: rec.block.unwrap_or_default(),
                    });
                    if launches.len() > 10 {
                        launches.remove(0);
                    }
                }
                "alloc" => {
                    let key = (
                        rec.api.clone().unwrap_or_default(),
                        rec.flag_names.clone(),
                        rec.asked_names.clone(),
                    );
                    let a = allocs.entry(key.clone()).or_insert_with(|| TraceAlloc {
                        api: key.0.clone(),
                        flags: key.1.clone(),
                        asked: key.2.clone(),
                        ..Default::default()
                    });
                    a.count += 1;
                    if rec.ret.unwrap_or(0) == 0 {
                        a.bytes += rec.size.unwrap_or(0);
                    } else {
                        a.failed += 1;
                    }
                    if rec.asked_names.is_some() {
                        r.changed_by_policy += 1;
                    }
                }
                "free" => r.frees += 1,
                "error" => {
                    *errors
                        .entry((rec.api.clone().unwrap_or_default(), rec.ret.unwrap_or(0)))
                        .or_default() += 1;
                }
                "missing" => r.notes.push(format!(
                    "{}: no HIP runtime provides it (the program's call failed with hipErrorSharedObjectSymbolNotFound)",
                    rec.api.as_deref().unwrap_or("?")
                )),
                "disabled" => r.notes.push(format!(
                    "tracing was disabled: {}",
                    rec.why.as_deref().unwrap_or("?")
                )),
                _ => {}
            }
        }
        fatbin_base += max_fatbin;
    }
    r.notes.dedup();
    r.last_launches = launches;
    let mut ks: Vec<TraceKernel> = kernel_counts
        .into_iter()
        .map(|((name, lib), launches)| TraceKernel {
            name,
            lib,
            launches,
        })
        .collect();
    ks.sort_by(|a, b| b.launches.cmp(&a.launches).then(a.name.cmp(&b.name)));
    ks.truncate(20);
    r.kernels = ks;
    r.allocations = allocs.into_values().collect();
    r.errors = errors
        .into_iter()
        .map(|((api, code), count)| TraceError {
            name: hip_error_name(code).map(String::from),
            api,
            code,
            count,
        })
        .collect();
    r
}

/// What a trace says about a crash, as sentences for `explain`: the last kernel launched
/// and whether its fat binary had code for the GPU; whether the seed policy changed the
/// outcome, when traces with and without it are given.
pub fn evidence(reports: &[TraceReport]) -> Vec<String> {
    let mut out = Vec::new();
    for r in reports {
        let file = r.files.first().cloned().unwrap_or_default();
        let ended = if r.ended_abnormally {
            "ended without its exit record (it was killed or faulted)"
        } else {
            "exited normally"
        };
        out.push(format!(
            "trace {file} (policy {}): {} records, {} launches; the process {ended}",
            r.policy, r.records, r.launches
        ));
        if let Some(l) = r.last_launches.last() {
            let fb = r.fatbins.iter().find(|f| f.lib.is_some() && f.lib == l.lib);
            let code = match (fb, &r.gpu) {
                (Some(f), Some(g)) => match f.runs_here {
                    Some(true) => format!(", whose fat binary has code for {g} ({})", f.targets.join(", ")),
                    Some(false) => format!(
                        ", whose fat binary had no code for {g} (it holds {}): the GPU ran another target's machine code",
                        if f.targets.is_empty() { "nothing".into() } else { f.targets.join(", ") }
                    ),
                    None => String::new(),
                },
                _ => String::new(),
            };
            out.push(format!(
                "the last kernel launched was `{}`{}{}",
                l.kernel,
                l.lib
                    .as_deref()
                    .map(|x| format!(" from {x}"))
                    .unwrap_or_default(),
                code
            ));
        }
        let foreign: Vec<&TraceFatbin> = r
            .fatbins
            .iter()
            .filter(|f| f.runs_here == Some(false))
            .collect();
        if !foreign.is_empty() {
            if let Some(g) = &r.gpu {
                out.push(format!(
                    "{} of {} registered fat binaries have no code for {g}",
                    foreign.len(),
                    r.fatbins.len()
                ));
            }
        }
    }
    let seed = reports.iter().find(|r| r.policy == "seed");
    let plain = reports.iter().find(|r| r.policy != "seed");
    if let (Some(s), Some(p)) = (seed, plain) {
        match (s.ended_abnormally, p.ended_abnormally) {
            (true, true) => out.push(
                "a fault with --policy seed as without it: not a memory-coherence problem".into(),
            ),
            (false, true) => out.push(
                "the fault is gone with --policy seed: allocation flags (coherence) are involved"
                    .into(),
            ),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRACE: &str = concat!(
        "{\"t\":1000,\"tid\":1,\"ev\":\"start\",\"pid\":1,\"exe\":\"/x\",\"policy\":\"none\",\"format\":1,\"clock\":\"tsc\"}\n",
        "{\"t\":1000,\"tid\":1,\"ev\":\"clock\",\"tsc\":1000,\"ns\":500}\n",
        "{\"t\":3000,\"tid\":2,\"ev\":\"clock\",\"tsc\":3000,\"ns\":1500}\n",
        "{\"t\":2000,\"tid\":1,\"ev\":\"fatbin\",\"fatbin\":0,\"magic\":\"HIPF\",\"lib\":\"/l/libtorch_hip.so\",\"compressed\":true,\"targets\":[\"gfx1030\",\"gfx1100\"]}\n",
        "{\"t\":3000,\"tid\":1,\"ev\":\"kernel\",\"k\":0,\"api\":\"__hipRegisterFunction\",\"name\":\"_Z3addPf\",\"fatbin\":0}\n",
        "{\"t\":4000,\"tid\":1,\"ev\":\"alloc\",\"api\":\"hipHostMalloc\",\"size\":64,\"ptr\":9,\"flags\":2147483648,\"flag_names\":\"NonCoherent\",\"asked\":0,\"asked_names\":\"Default\",\"ret\":0}\n",
        "{\"t\":5000,\"tid\":1,\"ev\":\"launch\",\"api\":\"hipLaunchKernel\",\"k\":0,\"grid\":[1,1,1],\"block\":[64,1,1],\"shared\":0}\n",
        "{\"t\":6000,\"tid\":1,\"ev\":\"error\",\"api\":\"hipMalloc\",\"ret\":2}\n",
        "{\"t\":7000,\"tid\":1,\"ev\":\"launch\",\"api\":\"hipLaunchKernel\",\"k\":0,\"grid\":[2,1,1],\"block\":[64,1,1],\"shared\":0}\n",
    );

    #[test]
    fn a_killed_process_is_summarised_up_to_its_last_record() {
        let mut data = TRACE.as_bytes().to_vec();
        // What a killed process leaves: a half-copied record and zeros.
        data.extend_from_slice(b"{\"t\":8000,\"tid\":1,\"ev\":\"lau");
        data.extend_from_slice(&[0u8; 64]);
        let p = parse(Path::new("tr"), &data);
        assert_eq!((p.records.len(), p.bad_lines, p.exited), (9, 1, false));
        let r = summarize(&[p], Some("gfx1010"));
        assert!(r.ended_abnormally);
        assert_eq!(r.launches, 2);
        assert_eq!(r.kernels[0].name, "_Z3addPf");
        assert_eq!(r.kernels[0].launches, 2);
        assert_eq!(r.last_launches.last().unwrap().grid, [2, 1, 1]);
        // Ticks at 0.5 ns each: the launch at t=7000 is 3000 ns after the start.
        assert_eq!(r.last_launches.last().unwrap().ms, Some(0.003));
        assert_eq!(r.fatbins[0].runs_here, Some(false));
        assert_eq!(r.changed_by_policy, 1);
        assert_eq!(r.errors[0].name.as_deref(), Some("hipErrorOutOfMemory"));
        let ev = evidence(std::slice::from_ref(&r));
        assert!(
            ev.iter().any(|l| l.contains("`_Z3addPf` from /l/libtorch_hip.so, whose fat binary had no code for gfx1010 (it holds gfx1030, gfx1100)")),
            "{ev:?}"
        );
        let mut seeded = r.clone();
        seeded.policy = "seed".into();
        let ev = evidence(&[r, seeded]);
        assert!(ev
            .iter()
            .any(|l| l.contains("not a memory-coherence problem")));
    }

    #[test]
    fn gfx1030_code_runs_on_gfx1030_and_not_on_gfx1010() {
        let t = vec!["gfx1030".to_string()];
        assert_eq!(runs_on("gfx1030", &t), Some(true));
        assert_eq!(runs_on("gfx1010", &t), Some(false));
        assert_eq!(runs_on("nonsense", &t), None);
    }

    #[test]
    fn children_files_are_found() {
        let d = tempfile::tempdir().unwrap();
        let base = d.path().join("tr.jsonl");
        for n in ["tr.jsonl", "tr.jsonl.123", "tr.jsonl.x", "tr.jsonl.99"] {
            std::fs::write(d.path().join(n), "").unwrap();
        }
        let f: Vec<String> = files(&base)
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(f, ["tr.jsonl", "tr.jsonl.123", "tr.jsonl.99"]);
    }
}
