//! One process's records, summed up line by line into state of a fixed size.

use crate::{
    hip_error_name, LAST, MAX_ADDRS, MAX_FATBINS, MAX_KERNELS, MAX_KINDS, MAX_LINE, MAX_NOTES,
};
use rp_report::{TraceAlloc, TraceError, TraceFatbin, TracePolicy};
use serde::Deserialize;
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;

/// One record as written (the fields the summary uses; the others are skipped). The
/// fields the interposer writes from fixed names are borrowed from the read buffer.
#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub(crate) struct Record<'a> {
    t: u64,
    tid: u32,
    ev: &'a str,
    api: Option<&'a str>,
    pid: Option<u32>,
    ppid: Option<u32>,
    policy: Option<&'a str>,
    format: Option<u32>,
    fatbin: Option<u32>,
    magic: Option<String>,
    lib: Option<String>,
    targets: Option<Vec<String>>,
    compressed: Option<bool>,
    kpack: Option<serde_json::Value>,
    k: Option<u32>,
    #[serde(rename = "fn")]
    func: Option<u64>,
    grid: Option<[u32; 3]>,
    block: Option<[u32; 3]>,
    size: Option<u64>,
    flag_names: Option<&'a str>,
    asked_names: Option<&'a str>,
    ret: Option<i32>,
    error: Option<String>,
    why: Option<String>,
    clock: Option<&'a str>,
    tsc: Option<u64>,
    ns: Option<u64>,
    env: Option<BTreeMap<String, String>>,
}

/// A `kernel` record read back for its name.
#[derive(Deserialize)]
pub(crate) struct KernelName {
    pub(crate) name: Option<String>,
    pub(crate) fatbin: Option<u32>,
}

/// A registered kernel: where its record lies, and its launches.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Kernel {
    /// Offset and length of its `kernel` record (none: launched, not registered here).
    pub(crate) at: Option<(u64, u32)>,
    pub(crate) launches: u64,
}

/// One of the last launches, as read.
#[derive(Debug, Clone)]
pub(crate) struct Last {
    pub(crate) t: u64,
    pub(crate) tid: u32,
    pub(crate) api: Cow<'static, str>,
    pub(crate) k: Option<u32>,
    pub(crate) func: Option<u64>,
    pub(crate) grid: [u32; 3],
    pub(crate) block: [u32; 3],
}

/// What one process's records add up to: fixed in size whatever the number of calls.
#[derive(Debug, Clone, Default)]
pub(crate) struct State {
    pub(crate) policy: Option<TracePolicy>,
    pub(crate) format: Option<u32>,
    pub(crate) kpack_env: Vec<(String, String)>,
    pub(crate) tsc: bool,
    pub(crate) first_clock: Option<(u64, u64)>,
    pub(crate) last_clock: Option<(u64, u64)>,
    pub(crate) t_first: Option<u64>,
    pub(crate) last_ev_exit: bool,
    pub(crate) fatbins: Vec<TraceFatbin>,
    /// Local fat binary ids seen (the next process's ids start after them).
    pub(crate) max_fatbin: u32,
    pub(crate) kernels: HashMap<u32, Kernel>,
    pub(crate) addrs: HashMap<u64, u64>,
    pub(crate) last: VecDeque<Last>,
    pub(crate) launches: u64,
    pub(crate) allocs: Vec<TraceAlloc>,
    pub(crate) frees: u64,
    pub(crate) changed_by_policy: u64,
    pub(crate) errors: Vec<TraceError>,
    pub(crate) notes: Vec<String>,
    /// Something was left out to keep the state bounded.
    pub(crate) capped: Vec<&'static str>,
}

/// One process's records, summed up as they were read.
#[derive(Debug, Clone, Default)]
pub struct ProcessTrace {
    /// The file.
    pub file: PathBuf,
    /// Records read.
    pub records: u64,
    /// Lines that did not parse.
    pub bad_lines: u64,
    /// It ends with an `exit` record.
    pub exited: bool,
    /// The process (`start` record).
    pub pid: Option<u32>,
    /// Its parent, whose kernels a forked child inherits.
    pub ppid: Option<u32>,
    /// The file was longer than its records (a process that died, was killed or exec'd)
    /// and was cut: (length found, length now).
    pub cut: Option<(u64, u64)>,
    /// The bytes, for a trace parsed from memory (read back for kernel names).
    pub(crate) data: Option<Arc<[u8]>>,
    pub(crate) st: State,
}

/// The APIs that launch, kept without an allocation per launch.
pub(crate) const LAUNCH_APIS: [&str; 3] = [
    "hipLaunchKernel",
    "hipExtLaunchKernel",
    "hipModuleLaunchKernel",
];

pub(crate) fn launch_api(api: &str) -> Cow<'static, str> {
    match LAUNCH_APIS.iter().find(|a| **a == api) {
        Some(a) => Cow::Borrowed(a),
        None => Cow::Owned(api.chars().take(64).collect()),
    }
}

impl ProcessTrace {
    /// One line of the file, at offset `at`, `raw` bytes long in the file.
    pub(crate) fn line(&mut self, at: u64, raw: u64, line: &[u8]) {
        if line.iter().all(|b| b.is_ascii_whitespace()) {
            return;
        }
        if line.len() > MAX_LINE {
            self.bad_lines += 1;
            return;
        }
        let Ok(rec) = serde_json::from_slice::<Record>(line) else {
            self.bad_lines += 1;
            return;
        };
        self.records += 1;
        let st = &mut self.st;
        if st.t_first.is_none() {
            st.t_first = Some(rec.t);
        }
        st.last_ev_exit = rec.ev == "exit";
        match rec.ev {
            "start" => self.start(rec),
            "clock" => st.clock(&rec),
            "fatbin" => st.fatbin(rec),
            "kernel" => st.kernel(rec.k, Some((at, raw.min(MAX_LINE as u64) as u32))),
            "launch" => st.launch(&rec),
            "alloc" => st.alloc(&rec),
            "free" => st.frees += 1,
            "error" => st.error(&rec),
            "missing" => note(
                st,
                format!(
                    "{}: no HIP runtime provides it (the program's call failed with hipErrorSharedObjectSymbolNotFound)",
                    rec.api.unwrap_or("?")
                ),
            ),
            "disabled" => note(
                st,
                format!(
                    "tracing was disabled: {}",
                    rec.why.as_deref().unwrap_or("?")
                ),
            ),
            _ => {}
        }
    }

    /// A `start` record: the process, its policy, format and clock, the kpack variables.
    fn start(&mut self, rec: Record) {
        let st = &mut self.st;
        if let Some(pol) = rec.policy.and_then(|p| p.parse().ok()) {
            st.policy = Some(pol);
        }
        self.pid = rec.pid.or(self.pid);
        self.ppid = rec.ppid.or(self.ppid);
        st.format = rec.format.or(st.format);
        st.tsc = rec.clock == Some("tsc");
        if let Some(env) = rec.env {
            st.kpack_env = env
                .into_iter()
                .filter(|(k, _)| k.starts_with("ROCM_KPACK_"))
                .take(16)
                .map(|(k, v)| (k, v.chars().take(4096).collect()))
                .collect();
        }
    }

    pub(crate) fn finish(&mut self) {
        self.exited = self.st.last_ev_exit;
    }

    /// The bytes of one record of this file (`file`: this file, opened once by the
    /// caller).
    pub(crate) fn record_at(
        &self,
        file: Option<&std::fs::File>,
        at: u64,
        len: u32,
    ) -> Option<Vec<u8>> {
        let mut v = match (&self.data, file) {
            (Some(d), _) => d
                .get(at as usize..(at as usize).checked_add(len as usize)?)?
                .to_vec(),
            (None, Some(f)) => {
                let mut v = vec![0u8; len as usize];
                f.read_exact_at(&mut v, at).ok()?;
                v
            }
            (None, None) => return None,
        };
        v.retain(|&b| b != 0);
        Some(v)
    }
}

impl State {
    /// A `clock` record: the first and the last calibration are kept.
    fn clock(&mut self, rec: &Record) {
        if let (Some(t), Some(ns)) = (rec.tsc, rec.ns) {
            if self.first_clock.is_none() {
                self.first_clock = Some((t, ns));
            }
            self.last_clock = Some((t, ns));
        }
    }

    /// A `fatbin` record: listed, up to [`MAX_FATBINS`].
    fn fatbin(&mut self, rec: Record) {
        let id = rec.fatbin.unwrap_or(0);
        self.max_fatbin = self.max_fatbin.max(id.saturating_add(1));
        if self.fatbins.len() >= MAX_FATBINS {
            cap(&mut self.capped, "fat binaries");
            return;
        }
        self.fatbins.push(TraceFatbin {
            id,
            lib: rec.lib,
            magic: rec.magic.and_then(|m| m.parse().ok()),
            runs_here: None,
            targets: rec.targets.unwrap_or_default(),
            compressed: rec.compressed.unwrap_or(false),
            kpack: rec.kpack.as_ref().map(kpack_line),
            error: rec.error,
        });
    }

    /// A `kernel` record: where it lies (`place`), for its name to be read back.
    fn kernel(&mut self, k: Option<u32>, place: Option<(u64, u32)>) {
        let k = k.unwrap_or(u32::MAX);
        let room = self.kernels.len() < MAX_KERNELS;
        match self.kernels.get_mut(&k) {
            Some(e) => e.at = place,
            None if room => {
                self.kernels.insert(
                    k,
                    Kernel {
                        at: place,
                        launches: 0,
                    },
                );
            }
            None => cap(&mut self.capped, "kernel registrations"),
        }
    }

    /// A `launch` record: counted by kernel (or by address, for an unregistered one) and
    /// kept among the last [`LAST`].
    fn launch(&mut self, rec: &Record) {
        self.launches += 1;
        match (rec.k, rec.func) {
            (Some(k), _) => self.launch_of_kernel(k),
            (None, f) => self.launch_at_address(f.unwrap_or(0)),
        }
        if self.last.len() == LAST {
            self.last.pop_front();
        }
        self.last.push_back(Last {
            t: rec.t,
            tid: rec.tid,
            api: launch_api(rec.api.unwrap_or_default()),
            k: rec.k,
            func: rec.func,
            grid: rec.grid.unwrap_or_default(),
            block: rec.block.unwrap_or_default(),
        });
    }

    /// One more launch of registered kernel `k`.
    fn launch_of_kernel(&mut self, k: u32) {
        let room = self.kernels.len() < MAX_KERNELS;
        match self.kernels.get_mut(&k) {
            Some(e) => e.launches += 1,
            None if room => {
                self.kernels.insert(
                    k,
                    Kernel {
                        at: None,
                        launches: 1,
                    },
                );
            }
            None => cap(&mut self.capped, "kernel registrations"),
        }
    }

    /// One more launch of the unregistered kernel at address `f`.
    fn launch_at_address(&mut self, f: u64) {
        let room = self.addrs.len() < MAX_ADDRS;
        match self.addrs.get_mut(&f) {
            Some(n) => *n += 1,
            None if room => {
                self.addrs.insert(f, 1);
            }
            None => cap(&mut self.capped, "unregistered kernel addresses"),
        }
    }

    /// An `alloc` record: counted by kind (api, flags applied, flags asked for).
    fn alloc(&mut self, rec: &Record) {
        let api = rec.api.unwrap_or_default();
        let (flags, asked) = (rec.flag_names, rec.asked_names);
        let i = match self.allocs.iter().position(|a| {
            a.api == api && a.flags.as_deref() == flags && a.asked.as_deref() == asked
        }) {
            Some(i) => Some(i),
            None if self.allocs.len() < MAX_KINDS => {
                self.allocs.push(TraceAlloc {
                    api: api.to_string(),
                    flags: flags.map(String::from),
                    asked: asked.map(String::from),
                    ..Default::default()
                });
                Some(self.allocs.len() - 1)
            }
            None => {
                cap(&mut self.capped, "allocation kinds");
                None
            }
        };
        if let Some(a) = i.map(|i| &mut self.allocs[i]) {
            a.count += 1;
            if rec.ret.unwrap_or(0) == 0 {
                a.bytes = a.bytes.saturating_add(rec.size.unwrap_or(0));
            } else {
                a.failed += 1;
            }
        }
        if asked.is_some() {
            self.changed_by_policy += 1;
        }
    }

    /// An `error` record: counted by (api, code).
    fn error(&mut self, rec: &Record) {
        let (api, code) = (rec.api.unwrap_or_default(), rec.ret.unwrap_or(0));
        let room = self.errors.len() < MAX_KINDS;
        match self
            .errors
            .iter_mut()
            .find(|e| e.api == api && e.code == code)
        {
            Some(e) => e.count += 1,
            None if room => self.errors.push(TraceError {
                api: api.to_string(),
                code,
                name: hip_error_name(code).map(String::from),
                count: 1,
            }),
            None => cap(&mut self.capped, "error kinds"),
        }
    }
}

/// A note, once.
pub(crate) fn note(st: &mut State, n: String) {
    if st.notes.len() < MAX_NOTES && !st.notes.contains(&n) {
        st.notes.push(n);
    }
}

pub(crate) fn cap(capped: &mut Vec<&'static str>, what: &'static str) {
    if !capped.contains(&what) {
        capped.push(what);
    }
}

/// The kpack reference of a fat binary, as one line.
pub(crate) fn kpack_line(v: &serde_json::Value) -> String {
    let name = v["kernel_name"].as_str().unwrap_or("?");
    let search: Vec<&str> = v["search"]
        .as_array()
        .map(|a| a.iter().filter_map(|s| s.as_str()).collect())
        .unwrap_or_default();
    format!("{name} in {}", search.join(", "))
}
