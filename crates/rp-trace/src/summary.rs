//! The summary of a trace's processes: counts, kernels by name, the last launches, fat
//! binaries checked against the GPU, notes.

use crate::process::{cap, Kernel, KernelName, ProcessTrace};
use crate::{hip_error_name, LAST, MAX_KERNEL_NAMES};
use rp_report::{
    FatbinMagic, TraceAlloc, TraceError, TraceKernel, TraceLaunch, TracePolicy, TraceReport, SCHEMA,
};
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, VecDeque};

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
        if !p.st.tsc {
            return Some(Clock {
                at: (0, 0),
                rate: 1.0,
            });
        }
        let (first, last) = (p.st.first_clock?, p.st.last_clock?);
        if last.0 <= first.0 || last.1 <= first.1 {
            return None;
        }
        Some(Clock {
            at: first,
            rate: (last.1 - first.1) as f64 / (last.0 - first.0) as f64,
        })
    }

    fn ns(&self, t: u64) -> f64 {
        self.at.1 as f64 + (t as f64 - self.at.0 as f64) * self.rate
    }
}

/// Whether any of `targets` runs on `gpu`.
pub(crate) fn runs_on(gpu: &rp_kb::TargetId, targets: &[String]) -> bool {
    let kb = rp_kb::kb();
    targets.iter().any(|t| {
        t.parse::<rp_kb::TargetId>()
            .is_ok_and(|c| kb.compat(gpu, &c).loadable())
    })
}

/// What the kpack loader's variables do (rocm-kpack runtime/src/loader.cpp).
fn kpack_effect(name: &str, value: &str) -> &'static str {
    match name {
        "ROCM_KPACK_DISABLE" if value.starts_with('0') => "set to 0: the loader stays on",
        "ROCM_KPACK_DISABLE" => "the HIP runtime loaded no kpack'd GPU code",
        "ROCM_KPACK_PATH" => "kpack'd libraries read GPU code only from these archives, not from the .kpack/ directories beside them",
        "ROCM_KPACK_PATH_PREFIX" => "these archives were searched before the .kpack/ directories beside each library",
        "ROCM_KPACK_DEBUG" => "the kpack loader logged every archive and kernel lookup to stderr",
        _ => "a kpack loader variable",
    }
}

/// Resolves kernel ids to (name, library), in a process or the parent it was forked
/// from (a child inherits its parent's registrations and ids).
struct Names<'a> {
    procs: &'a [ProcessTrace],
    by_pid: HashMap<u32, usize>,
    /// Each process's file, opened once when a name is first read from it.
    open: RefCell<HashMap<usize, Option<std::fs::File>>>,
}

impl Names<'_> {
    fn get(&self, mut i: usize, k: u32) -> Option<(String, Option<String>)> {
        for _ in 0..32 {
            let p = &self.procs[i];
            if let Some((at, len)) = p.st.kernels.get(&k).and_then(|e| e.at) {
                let mut open = self.open.borrow_mut();
                let f = open.entry(i).or_insert_with(|| {
                    if p.data.is_some() {
                        return None;
                    }
                    rp_sys::open_regular(&p.file).ok().map(|(f, _)| f)
                });
                let rec = p.record_at(f.as_ref(), at, len)?;
                drop(open);
                let kn: KernelName = serde_json::from_slice(&rec).ok()?;
                let lib = kn.fatbin.and_then(|f| self.lib(i, f));
                return Some((kn.name.unwrap_or_default(), lib));
            }
            i = *self.by_pid.get(&p.ppid?)?;
        }
        None
    }

    /// The library of fat binary `f` of process `i` (or of its parents).
    fn lib(&self, mut i: usize, f: u32) -> Option<String> {
        for _ in 0..32 {
            let p = &self.procs[i];
            if let Some(fb) = p.st.fatbins.iter().rev().find(|x| x.id == f) {
                return fb.lib.clone();
            }
            i = *self.by_pid.get(&p.ppid?)?;
        }
        None
    }
}

/// Summarise the processes' records. `gpu` is the target fat binaries are checked
/// against.
pub fn summarize(procs: &[ProcessTrace], gpu: Option<&rp_kb::TargetId>) -> TraceReport {
    let mut r = TraceReport {
        schema: SCHEMA,
        policy: TracePolicy::None,
        gpu: gpu.map(|g| g.to_string()),
        ..Default::default()
    };
    let clocks: Vec<Option<Clock>> = procs.iter().map(Clock::of).collect();
    let t0 = procs
        .iter()
        .zip(&clocks)
        .filter_map(|(p, c)| Some(c.as_ref()?.ns(p.st.t_first?)))
        .fold(f64::INFINITY, f64::min);
    let names = Names {
        procs,
        by_pid: procs
            .iter()
            .enumerate()
            .filter_map(|(i, p)| Some((p.pid?, i)))
            .collect(),
        open: RefCell::new(HashMap::new()),
    };
    let mut totals = Totals::default();
    for (i, (p, clock)) in procs.iter().zip(&clocks).enumerate() {
        totals.add_fatbins(&mut r, p, gpu);
        totals.add_launches(&mut r, &names, i, *clock, t0);
        totals.add_calls(&mut r, p);
    }
    totals.notes(&mut r, procs);
    totals.into_report(r)
}

/// What the processes add up to, beyond the report's plain counters.
#[derive(Default)]
struct Totals<'a> {
    launches: VecDeque<TraceLaunch>,
    kernel_counts: HashMap<(String, Option<String>), u64>,
    allocs: Vec<TraceAlloc>,
    errors: BTreeMap<(String, i32), u64>,
    kpack_env: BTreeMap<(String, String), u64>,
    capped: Vec<&'static str>,
    cuts: Vec<(&'a std::ffi::OsStr, u64, u64)>,
    fatbin_base: u32,
}

impl<'a> Totals<'a> {
    /// A process's file, counters, policy, kpack variables and fat binaries (numbered
    /// after the previous processes', each checked against `gpu`).
    fn add_fatbins(
        &mut self,
        r: &mut TraceReport,
        p: &ProcessTrace,
        gpu: Option<&rp_kb::TargetId>,
    ) {
        let st = &p.st;
        r.files.push(p.file.display().to_string());
        r.records += p.records;
        r.bad_lines += p.bad_lines;
        if !p.exited && p.records > 0 {
            r.ended_abnormally = true;
        }
        if let Some(pol) = st.policy {
            r.policy = pol;
        }
        for (k, v) in &st.kpack_env {
            *self.kpack_env.entry((k.clone(), v.clone())).or_default() += 1;
        }
        for f in &st.fatbins {
            let mut f = f.clone();
            f.id = self.fatbin_base.saturating_add(f.id);
            f.runs_here = match (gpu, &f.kpack) {
                (Some(g), None) => Some(runs_on(g, &f.targets)),
                _ => None,
            };
            r.fatbins.push(f);
        }
        self.fatbin_base = self.fatbin_base.saturating_add(st.max_fatbin);
    }

    /// Process `i`'s launches: counted by kernel name, and its last ones (each launched
    /// kernel's name read back once).
    fn add_launches(
        &mut self,
        r: &mut TraceReport,
        names: &Names,
        i: usize,
        clock: Option<Clock>,
        t0: f64,
    ) {
        let st = &names.procs[i].st;
        let mut resolved: HashMap<u32, (String, Option<String>)> = HashMap::new();
        let mut name_of = |k: u32| {
            resolved
                .entry(k)
                .or_insert_with(|| {
                    names.get(i, k).unwrap_or_else(|| {
                        (
                            format!("kernel #{k} (its registration was not recorded)"),
                            None,
                        )
                    })
                })
                .clone()
        };
        r.launches += st.launches;
        let mut launched: Vec<(&u32, &Kernel)> =
            st.kernels.iter().filter(|(_, e)| e.launches > 0).collect();
        launched.sort_by_key(|(k, _)| **k);
        for (k, e) in launched {
            self.add_kernel(name_of(*k), e.launches);
        }
        for (f, n) in &st.addrs {
            self.add_kernel((format!("unregistered kernel at {f:#x}"), None), *n);
        }
        for l in &st.last {
            let (kernel, lib) = match (l.k, l.func) {
                (Some(k), _) => name_of(k),
                (None, f) => (
                    format!("unregistered kernel at {:#x}", f.unwrap_or(0)),
                    None,
                ),
            };
            if self.launches.len() == LAST {
                self.launches.pop_front();
            }
            self.launches.push_back(TraceLaunch {
                ms: clock.map(|c| (c.ns(l.t) - t0) / 1e6),
                tid: l.tid,
                api: l.api.to_string(),
                kernel,
                lib,
                grid: l.grid,
                block: l.block,
            });
        }
    }

    /// `n` launches of the kernel `key` (name, library), up to [`MAX_KERNEL_NAMES`] kernels.
    fn add_kernel(&mut self, key: (String, Option<String>), n: u64) {
        if let Some(c) = self.kernel_counts.get_mut(&key) {
            *c += n;
        } else if self.kernel_counts.len() < MAX_KERNEL_NAMES {
            self.kernel_counts.insert(key, n);
        } else {
            cap(&mut self.capped, "kernel names");
        }
    }

    /// A process's allocations, frees, errors, notes, what it left out, and its cut.
    fn add_calls(&mut self, r: &mut TraceReport, p: &'a ProcessTrace) {
        let st = &p.st;
        for a in &st.allocs {
            match self
                .allocs
                .iter_mut()
                .find(|x| x.api == a.api && x.flags == a.flags && x.asked == a.asked)
            {
                Some(x) => {
                    x.count += a.count;
                    x.bytes = x.bytes.saturating_add(a.bytes);
                    x.failed += a.failed;
                }
                None => self.allocs.push(a.clone()),
            }
        }
        r.frees += st.frees;
        r.changed_by_policy += st.changed_by_policy;
        for e in &st.errors {
            *self.errors.entry((e.api.clone(), e.code)).or_default() += e.count;
        }
        r.notes.extend(st.notes.iter().cloned());
        for c in &st.capped {
            cap(&mut self.capped, c);
        }
        if let Some((from, to)) = p.cut {
            self.cuts
                .push((p.file.file_name().unwrap_or_default(), from, to));
        }
    }

    /// The notes on all processes: files cut, kpack variables in force, what was left out.
    fn notes(&self, r: &mut TraceReport, procs: &[ProcessTrace]) {
        match self.cuts.as_slice() {
            [] => {}
            [(name, from, to)] => r.notes.push(format!(
                "{}: the process did not end its record (it crashed, was killed, left with _exit or exec'd); the file was cut from {from} to {to} bytes, its records",
                name.to_string_lossy()
            )),
            all => r.notes.push(format!(
                "{} processes did not end their records (they crashed, were killed, left with _exit or exec'd); their files were cut from {} to {} bytes in all, their records",
                all.len(),
                all.iter().map(|c| c.1).sum::<u64>(),
                all.iter().map(|c| c.2).sum::<u64>()
            )),
        }
        let with_start = procs.iter().filter(|p| p.st.format.is_some()).count() as u64;
        for ((k, v), n) in &self.kpack_env {
            let in_how_many = if *n < with_start {
                format!(" (in {n} of {with_start} processes)")
            } else {
                String::new()
            };
            r.notes.push(format!(
                "{k}={v} was in force{in_how_many}: {}",
                kpack_effect(k, v)
            ));
        }
        if self.kpack_env.is_empty() && r.fatbins.iter().any(|f| f.magic == Some(FatbinMagic::Hipk))
        {
            r.notes.push("no ROCM_KPACK_* variable was in force: kpack'd code was searched for in the archives each library names".into());
        }
        if !self.capped.is_empty() {
            r.notes.push(format!(
                "more {} than the summary keeps: counts of the ones left out are not shown",
                self.capped.join(", ")
            ));
        }
        r.notes.dedup();
    }

    /// The report with the last launches, the 20 most launched kernels, allocations and
    /// errors in order.
    fn into_report(self, mut r: TraceReport) -> TraceReport {
        r.last_launches = self.launches.into();
        let mut ks: Vec<TraceKernel> = self
            .kernel_counts
            .into_iter()
            .map(|((name, lib), launches)| TraceKernel {
                name,
                lib,
                launches,
            })
            .collect();
        ks.sort_by(|a, b| {
            b.launches
                .cmp(&a.launches)
                .then_with(|| a.name.cmp(&b.name))
                .then_with(|| a.lib.cmp(&b.lib))
        });
        ks.truncate(20);
        r.kernels = ks;
        let mut allocs = self.allocs;
        allocs.sort_by(|a, b| (&a.api, &a.flags, &a.asked).cmp(&(&b.api, &b.flags, &b.asked)));
        r.allocations = allocs;
        r.errors = self
            .errors
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
}
