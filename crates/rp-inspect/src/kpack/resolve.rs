//! Step 1 of the module docs for every architecture at once: each kpack'd binary's
//! search paths followed to the archives they can reach, each archive read once.

use super::{key_matches, unit_of, KpackEnv, PLACEHOLDER};
use crate::error_report;
use rayon::prelude::*;
use rp_codeobj::Options as ScanOptions;
use rp_report::{CodeObjectReport, FileFormat, FileReport, KpackSearch, KpackSource, KpackStatus};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Component, Path, PathBuf};

/// Most directory entries looked at when matching a `@GFXARCH@` path.
const MAX_DIR_ENTRIES: usize = 16_384;
/// Most archives one `@GFXARCH@` path may match.
const MAX_MATCHES: usize = 256;

/// Where one path leads.
enum Target {
    /// A report already in the list (wheel members, files named or walked).
    Report(usize),
    /// A file to read.
    File(PathBuf),
    /// Nothing readable there: the status and the path shown.
    Nothing(KpackStatus, String),
}

/// One archive a binary may load from, before it is read.
struct Want {
    binary: usize,
    path: String,
    source: KpackSource,
    arch: Option<String>,
    target: Target,
}

/// Follow every kpack'd binary in `reports` to its archives (the module docs, step 1),
/// read each archive no report holds yet, and record in each binary's `kpack_ref` what
/// each search found, with the code objects its archives hold for it.
pub(crate) fn resolve(
    reports: &mut [FileReport],
    confine: Option<&Path>,
    env: &KpackEnv,
    opts: &ScanOptions,
) {
    let confine = confine.and_then(|c| std::fs::canonicalize(c).ok());
    let known = known_archives(reports);
    let members: Vec<(usize, &str, &str)> = reports
        .iter()
        .enumerate()
        .filter(|(_, r)| r.format == Some(FileFormat::Kpack))
        .filter_map(|(i, r)| r.path.split_once("!/").map(|(w, m)| (i, w, m)))
        .collect();
    let wanted = wanted(reports, env, &known, &members, confine.as_deref());
    // Read each archive not yet read once, in parallel.
    let files: BTreeSet<&PathBuf> = wanted
        .iter()
        .filter_map(|w| match &w.target {
            Target::File(p) => Some(p),
            _ => None,
        })
        .collect();
    let read: BTreeMap<PathBuf, FileReport> = files
        .into_par_iter()
        .map(|p| (p.clone(), read_archive(p, opts)))
        .collect();
    // Each binary's searches are rebuilt from what was found.
    let mut searches: BTreeMap<usize, Vec<KpackSearch>> = BTreeMap::new();
    let mut found_objects: BTreeMap<usize, Vec<CodeObjectReport>> = BTreeMap::new();
    for w in wanted {
        let mut s = KpackSearch {
            path: w.path.clone(),
            source: w.source,
            arch: w.arch.clone(),
            ..KpackSearch::default()
        };
        let (archive_path, archive) = match &w.target {
            Target::Report(a) => (reports[*a].path.clone(), Some(&reports[*a])),
            Target::File(p) => (p.display().to_string(), read.get(p)),
            Target::Nothing(status, shown) => {
                s.status = *status;
                s.archive = Some(shown.clone());
                searches.entry(w.binary).or_default().push(s);
                continue;
            }
        };
        let key = reports[w.binary]
            .kpack_ref
            .as_ref()
            .map(|k| k.kernel_name.clone())
            .unwrap_or_default();
        s.archive = Some(archive_path.clone());
        let objs = found_objects.entry(w.binary).or_default();
        search_archive(&mut s, archive, &archive_path, &key, objs);
        searches.entry(w.binary).or_default().push(s);
    }
    for (i, r) in reports.iter_mut().enumerate() {
        let Some(k) = &mut r.kpack_ref else { continue };
        k.search = searches.remove(&i).unwrap_or_default();
        k.disabled = env.disabled;
        let objs = found_objects.remove(&i).unwrap_or_default();
        if k.units.is_empty() {
            // Streamed without its wrappers: the units its archives know of.
            let from: BTreeSet<u64> = objs
                .iter()
                .filter_map(|c| unit_of(c.binary.as_deref()?, &k.kernel_name))
                .collect();
            k.units = from.into_iter().collect();
            k.units_from_archives = true;
        }
        r.code_objects.extend(objs);
        note_missing(r);
    }
}

/// Archives already read, by the path they were reported under and, for files, by
/// their canonical path.
fn known_archives(reports: &[FileReport]) -> HashMap<String, usize> {
    let mut known: HashMap<String, usize> = HashMap::new();
    for (i, r) in reports.iter().enumerate() {
        if r.format == Some(FileFormat::Kpack) {
            known.insert(r.path.clone(), i);
            if !r.path.contains("!/") {
                if let Ok(c) = std::fs::canonicalize(&r.path) {
                    known.insert(c.display().to_string(), i);
                }
            }
        }
    }
    known
}

/// Every archive each kpack'd binary may load from, in the runtime's order: the
/// variables' paths, then the binary's own (module docs, step 1).
fn wanted(
    reports: &[FileReport],
    env: &KpackEnv,
    known: &HashMap<String, usize>,
    members: &[(usize, &str, &str)],
    confine: Option<&Path>,
) -> Vec<Want> {
    let mut wanted: Vec<Want> = Vec::new();
    for (i, r) in reports.iter().enumerate() {
        let Some(k) = &r.kpack_ref else { continue };
        let direct = |path: &str, source| {
            let target = locate_env(path, env, known, confine);
            Want {
                binary: i,
                path: path.to_string(),
                source,
                arch: None,
                target,
            }
        };
        if !env.path.is_empty() {
            wanted.extend(env.path.iter().map(|p| direct(p, KpackSource::Path)));
            continue;
        }
        wanted.extend(
            env.path_prefix
                .iter()
                .map(|p| direct(p, KpackSource::PathPrefix)),
        );
        for s in &k.search {
            let found = locate(&r.path, &s.path, known, members, confine);
            wanted.extend(found.into_iter().map(|(arch, target)| Want {
                binary: i,
                path: s.path.clone(),
                source: KpackSource::Embedded,
                arch,
                target,
            }));
        }
    }
    wanted
}

/// What the search `s` found in `archive` (read from `archive_path`) for the kernels of
/// `key`: its status, architectures and targets; the code objects it holds for them are
/// added to `objs`, each once.
fn search_archive(
    s: &mut KpackSearch,
    archive: Option<&FileReport>,
    archive_path: &str,
    key: &str,
    objs: &mut Vec<CodeObjectReport>,
) {
    match archive {
        Some(a) if a.format == Some(FileFormat::Kpack) && a.error.is_none() => {
            s.gfx_arches = a
                .kpack
                .as_ref()
                .map(|k| k.gfx_arches.clone())
                .unwrap_or_default();
            let mine: Vec<CodeObjectReport> = a
                .code_objects
                .iter()
                .filter(|c| c.binary.as_deref().is_some_and(|b| key_matches(b, key)))
                .cloned()
                .map(|mut c| {
                    c.archive = Some(archive_path.to_string());
                    c
                })
                .collect();
            s.status = if mine.is_empty() {
                KpackStatus::NoEntry
            } else {
                KpackStatus::Found
            };
            s.targets = mine
                .iter()
                .map(|c| c.kpack_arch.clone().unwrap_or_else(|| c.target_id.clone()))
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            for c in mine {
                if !objs.contains(&c) {
                    objs.push(c);
                }
            }
        }
        Some(a) => {
            s.status = KpackStatus::Unreadable;
            s.error = Some(
                a.error
                    .clone()
                    .unwrap_or_else(|| "not a kpack archive (no KPAK magic)".into()),
            );
        }
        None => {
            s.status = KpackStatus::Unreadable;
            s.error = Some("not read".into());
        }
    }
}

/// A path from one of the variables: used as it is, an absolute one under the root.
fn locate_env(
    path: &str,
    env: &KpackEnv,
    known: &HashMap<String, usize>,
    confine: Option<&Path>,
) -> Target {
    let p = Path::new(path);
    let on_disk = match (&env.root, p.is_absolute()) {
        (Some(root), true) => root.join(p.strip_prefix("/").unwrap_or(p)),
        // Relative to the current directory of a process on another machine: unknown.
        (Some(_), false) => return Target::Nothing(KpackStatus::Missing, path.to_string()),
        (None, _) => p.to_path_buf(),
    };
    file_target(&on_disk, path, path, known, confine)
}

fn file_target(
    on_disk: &Path,
    shown: &str,
    written: &str,
    known: &HashMap<String, usize>,
    confine: Option<&Path>,
) -> Target {
    let Ok(real) = std::fs::canonicalize(on_disk) else {
        return Target::Nothing(KpackStatus::Missing, shown.to_string());
    };
    if confine.is_some_and(|c| !real.starts_with(c)) {
        // Shown as the binary writes it: where it leads is no business of the report.
        return Target::Nothing(KpackStatus::Outside, written.to_string());
    }
    match known.get(&real.display().to_string()) {
        Some(&i) => Target::Report(i),
        None if real.is_file() => Target::File(real),
        None => Target::Nothing(KpackStatus::Missing, shown.to_string()),
    }
}

/// Resolve `search` relative to the binary at `binary` (a file path or a wheel member
/// `wheel!/member`): one target, or for a `@GFXARCH@` path each archive present that
/// it can expand to, with the architecture its name stands for.
fn locate(
    binary: &str,
    search: &str,
    known: &HashMap<String, usize>,
    members: &[(usize, &str, &str)],
    confine: Option<&Path>,
) -> Vec<(Option<String>, Target)> {
    if let Some((wheel, member)) = binary.split_once("!/") {
        return locate_in_wheels(wheel, member, search, known, members);
    }
    let dir = Path::new(binary).parent().unwrap_or(Path::new("."));
    let joined = if Path::new(search).is_absolute() {
        PathBuf::from(search)
    } else {
        dir.join(search)
    };
    let shown = normalize(&joined).unwrap_or_else(|| joined.clone());
    let text = shown.display().to_string();
    let Some((before, after)) = text.split_once(PLACEHOLDER) else {
        return vec![(None, file_target(&joined, &text, search, known, confine))];
    };
    // The placeholder's component: the directory before it is listed, its name matched
    // as `prefix ARCH suffix`, and what follows it is appended.
    let (parent, prefix) = match before.rfind('/') {
        Some(i) => (&before[..i.max(1)], &before[i + 1..]),
        None => (".", before),
    };
    let (suffix, rest) = match after.find('/') {
        Some(i) => (&after[..i], &after[i..]),
        None => (after, ""),
    };
    let mut out = Vec::new();
    let listing = std::fs::read_dir(parent).map(|d| {
        d.filter_map(Result::ok)
            .take(MAX_DIR_ENTRIES)
            .filter_map(|e| e.file_name().into_string().ok())
            .collect::<Vec<_>>()
    });
    let mut names = listing.unwrap_or_default();
    names.sort();
    for name in names {
        let Some(arch) = name
            .strip_prefix(prefix)
            .and_then(|n| n.strip_suffix(suffix))
            .filter(|a| !a.is_empty())
        else {
            continue;
        };
        let path = format!("{parent}/{name}{rest}");
        match file_target(Path::new(&path), &path, search, known, confine) {
            Target::Nothing(KpackStatus::Missing, _) => {}
            t => out.push((Some(arch.to_string()), t)),
        }
        if out.len() >= MAX_MATCHES {
            break;
        }
    }
    if out.is_empty() {
        out.push((None, Target::Nothing(KpackStatus::Missing, text)));
    }
    out
}

/// A wheel member's search path, among the members of every wheel inspected: pip
/// installs a host wheel and its device wheels into one site-packages, so an archive
/// of a device wheel lies where the host wheel's binary looks (TheRock splits torch
/// that way; docs/code-objects.md, "Kpack"). The binary's own wheel comes first.
fn locate_in_wheels(
    wheel: &str,
    member: &str,
    search: &str,
    known: &HashMap<String, usize>,
    members: &[(usize, &str, &str)],
) -> Vec<(Option<String>, Target)> {
    let dir = Path::new(member).parent().unwrap_or(Path::new(""));
    let Some(m) = normalize(&dir.join(search)) else {
        return vec![(
            None,
            Target::Nothing(KpackStatus::Outside, format!("{wheel}!/{search}")),
        )];
    };
    let m = m.display().to_string();
    let shown = format!("{wheel}!/{m}");
    let Some((before, after)) = m.split_once(PLACEHOLDER) else {
        if let Some(&i) = known.get(&shown) {
            return vec![(None, Target::Report(i))];
        }
        return match members.iter().find(|(_, _, mm)| *mm == m) {
            Some((i, _, _)) => vec![(None, Target::Report(*i))],
            None => vec![(None, Target::Nothing(KpackStatus::Missing, shown))],
        };
    };
    let mut hits: Vec<(bool, &str, String, usize)> = members
        .iter()
        .filter_map(|(i, w, mm)| {
            let arch = mm.strip_prefix(before)?.strip_suffix(after)?;
            (!arch.is_empty() && !arch.contains('/'))
                .then(|| (*w != wheel, *mm, arch.to_string(), *i))
        })
        .collect();
    hits.sort();
    hits.truncate(MAX_MATCHES);
    if hits.is_empty() {
        return vec![(None, Target::Nothing(KpackStatus::Missing, shown))];
    }
    hits.into_iter()
        .map(|(_, _, arch, i)| (Some(arch), Target::Report(i)))
        .collect()
}

/// `a/b/../c` → `a/c`, lexically; `None` when `..` climbs above the start.
fn normalize(p: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    Some(out)
}

/// An archive no inspected path reached, read the way `inspect` reads a named file.
fn read_archive(path: &Path, opts: &ScanOptions) -> FileReport {
    crate::inspect_path(path, true, opts, crate::DEFAULT_IN_MEMORY)
        .into_iter()
        .next()
        .unwrap_or_else(|| error_report(path, "nothing read".into()))
}

/// A kpack'd binary whose archives hold nothing for it says where its code should be.
fn note_missing(r: &mut FileReport) {
    let Some(k) = &r.kpack_ref else { return };
    if k.search.iter().any(|s| s.status == KpackStatus::Found) {
        return;
    }
    let names: Vec<String> = k
        .search
        .iter()
        .map(|s| {
            let a = s.archive.as_deref().unwrap_or(&s.path);
            format!("{a} ({})", s.status.as_str())
        })
        .collect();
    let names = if names.is_empty() {
        "no search paths".to_string()
    } else {
        names.join(", ")
    };
    r.notes.push(format!(
        "kpack'd: its device code is in separate archives (device packages), and none holds {}: {names}",
        k.kernel_name
    ));
}
