//! `fix`: from doctor's findings to a plan of remedies, applied as one deploy
//! transaction and verified.
//!
//! Which remedy answers which finding is data (rp-kb `data/remedies.toml`); this crate
//! knows how to carry out each kind of action once: comment out startup-file lines, make
//! and verify a venv, add groups, write the user's config layer, or print steps. Every
//! change is part of one transaction of the deploy engine (files byte-exact, the venv
//! and the groups as recorded actions), so `rollback` undoes a fix and `recover`
//! finishes one that was interrupted. Nothing here prints.
#![deny(missing_docs)]

pub mod edit;
pub mod venv;

use rp_deploy::{Action, DeployError, DeployOptions, Step};
use rp_kb::{OverrideCompat, RemedyAction};
use rp_machine::{MachineSnapshot, SysRoot};
use rp_report::{
    DoctorReport, FindingBrief, FixAction, FixPlanStep, FixStepState, Severity, TxReport,
};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What `fix` was asked to do.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Only these findings (empty: every finding with a remedy).
    pub ids: Vec<String>,
    /// Also change system files (/etc) and groups.
    pub system: bool,
    /// The new venv (a host path); default below the user's data directory (live only).
    pub venv: Option<PathBuf>,
    /// The package index (default: the channel's, from the knowledge base).
    pub index_url: Option<String>,
    /// `stable` or `nightly`.
    pub channel: String,
    /// The interpreter the venv is made from (default: the newest supported on PATH).
    pub venv_python: Option<PathBuf>,
    /// `PATH` to search for that interpreter (on this host).
    pub host_path: String,
    /// The command line, for the journal.
    pub command: String,
    /// This process runs as root.
    pub is_root: bool,
}

/// Why no plan could be made or applied.
#[derive(Debug, thiserror::Error)]
pub enum FixError {
    /// Bad input (an unknown finding id, a venv directory in use…).
    #[error("{0}")]
    Usage(String),
    /// The transaction could not be made.
    #[error(transparent)]
    Deploy(#[from] DeployError),
}

/// One edit of a startup file: lines (1-based) and their text as read.
#[derive(Debug, Clone)]
struct FileEdit {
    host: PathBuf,
    /// First line of each command to edit, with its text when planned.
    lines: Vec<(u32, String)>,
    /// The variables taken out of those commands.
    names: Vec<String>,
}

#[derive(Debug, Clone)]
enum Work {
    Comment(Vec<FileEdit>),
    Venv {
        dir: PathBuf,
        python: PathBuf,
        gpu: String,
        index: String,
        packages: Vec<String>,
        device_packages: Vec<String>,
    },
    Groups {
        user: String,
        groups: Vec<String>,
        prefix: String,
    },
    Config {
        host: PathBuf,
        profile: String,
    },
    Nothing,
}

/// One step of the plan: what the report shows and what will be done.
#[derive(Debug, Clone)]
pub struct Planned {
    /// As reported.
    pub report: FixPlanStep,
    work: Work,
}

/// The plan.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Steps in the order they are applied.
    pub steps: Vec<Planned>,
    /// The root's host directory (`/` on this machine).
    root_dir: PathBuf,
    /// The user's home (host path).
    home: Option<PathBuf>,
}

impl Plan {
    /// Something would be changed (not only printed).
    pub fn changes_anything(&self) -> bool {
        self.steps.iter().any(|s| !matches!(s.work, Work::Nothing))
    }
    /// The venv it makes.
    pub fn venv(&self) -> Option<&Path> {
        self.steps.iter().find_map(|s| match &s.work {
            Work::Venv { dir, .. } => Some(dir.as_path()),
            _ => None,
        })
    }
    /// Variables whose startup lines it comments out.
    pub fn removed_vars(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .steps
            .iter()
            .filter(|s| matches!(s.work, Work::Comment(_)))
            .flat_map(|s| s.report.changes.iter())
            .filter_map(|c| c.split_once(" sets ").map(|(_, r)| r))
            .filter_map(|r| r.split_once('=').map(|(n, _)| n.to_string()))
            .collect();
        v.sort();
        v.dedup();
        v
    }
}

/// A finding, briefly.
pub fn brief(r: &DoctorReport) -> Vec<FindingBrief> {
    r.findings
        .iter()
        .map(|f| FindingBrief {
            id: f.id.clone(),
            severity: f.severity,
            subject: f.subject.clone(),
            title: f.title.clone(),
        })
        .collect()
}

fn step(r: &rp_kb::Remedy, action: FixAction, vars: &[(&str, &str)]) -> FixPlanStep {
    let (why, reference) = rp_kb::fill_noted(&r.why, &r.reference, &r.notes, vars);
    FixPlanStep {
        action,
        title: rp_kb::fill(&r.title, vars),
        why,
        reference,
        state: FixStepState::Planned,
        ..Default::default()
    }
}

/// Does an override value break (or is it invalid for) some GPU the variable applies to?
fn override_breaks(m: &MachineSnapshot, name: &str, value: &str) -> bool {
    let node: Option<u32> = match name.strip_prefix("HSA_OVERRIDE_GFX_VERSION") {
        Some("") => None,
        Some(n) => n.strip_prefix('_').and_then(|n| n.parse().ok()),
        None => return false,
    };
    let Some(code) = rp_kb::GfxVersion::parse_override(value).and_then(rp_kb::GfxVersion::gfx_name)
    else {
        return true;
    };
    m.kfd_gpus()
        .filter(|g| node.is_none() || g.node == node)
        .any(|g| {
            matches!(
                rp_kb::kb().override_compat(g.gfx_target.as_deref().unwrap_or(""), &code),
                OverrideCompat::Foreign | OverrideCompat::Risky(_)
            )
        })
}

fn covers(var: &str, name: &str) -> bool {
    name == var
        || name
            .strip_prefix(var)
            .and_then(|r| r.strip_prefix('_'))
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Build the plan from the machine and doctor's report on it.
pub fn plan(
    m: &MachineSnapshot,
    report: &DoctorReport,
    root: &SysRoot,
    o: &Options,
) -> Result<Plan, FixError> {
    let kb = rp_kb::kb();
    for id in &o.ids {
        if !report.findings.iter().any(|f| &f.id == id) {
            let known: Vec<&str> = report.findings.iter().map(|f| f.id.as_str()).collect();
            return Err(FixError::Usage(format!(
                "no finding {id:?} on this machine (doctor found: {})",
                if known.is_empty() {
                    "nothing".to_string()
                } else {
                    known.join(", ")
                }
            )));
        }
    }
    let wanted: Vec<&rp_report::Finding> = report
        .findings
        .iter()
        .filter(|f| o.ids.is_empty() || o.ids.contains(&f.id))
        .collect();
    let home = m.home.as_deref().map(|h| root.host(h));
    let user = m
        .identity
        .name
        .clone()
        .unwrap_or_else(|| m.identity.uid.to_string());
    let gpu = m
        .kfd_gpus()
        .filter_map(|g| g.gfx_target.clone())
        .next()
        .unwrap_or_default();
    let gpu_name = m
        .kfd_gpus()
        .map(|g| g.name.clone())
        .next()
        .unwrap_or_default();
    let mut steps: Vec<Planned> = Vec::new();
    // One step per remedy, in the knowledge base's order.
    for r in kb.remedies() {
        let ids: Vec<String> = wanted
            .iter()
            .filter(|f| r.findings.contains(&f.id))
            .map(|f| f.id.clone())
            .fold(Vec::new(), |mut v, id| {
                if !v.contains(&id) {
                    v.push(id)
                }
                v
            });
        if ids.is_empty() {
            continue;
        }
        let vars = [
            ("gpu", gpu.as_str()),
            ("user", user.as_str()),
            ("gpu_name", gpu_name.as_str()),
        ];
        let mut p = match r.action {
            RemedyAction::CommentStartupLines => {
                comment_step(m, root, r, home.as_deref(), &vars, o)
            }
            RemedyAction::NativeVenv => venv_step(m, r, &gpu, &vars, root, o),
            RemedyAction::AddGroups => groups_step(m, root, r, &user, &vars, o),
            RemedyAction::UserConfig => config_step(m, root, r, home.as_deref(), &vars)?,
            RemedyAction::Print => {
                let mut s = step(r, FixAction::Print, &vars);
                for f in wanted.iter().filter(|f| r.findings.contains(&f.id)) {
                    // Never `rocm-patch fix` itself: this is fix's own plan.
                    s.commands.extend(
                        f.fix
                            .iter()
                            .filter_map(|x| x.command.clone())
                            .filter(|c| !c.starts_with("rocm-patch fix")),
                    );
                    s.changes.push(f.title.clone());
                }
                s.commands.dedup();
                s.needs_root = s.commands.iter().any(|c| c.starts_with("sudo "));
                s.undo = "nothing is changed".into();
                s.verify = "doctor, after you ran the steps".into();
                s.state = FixStepState::Printed;
                Some(Planned {
                    report: s,
                    work: Work::Nothing,
                })
            }
        };
        if let Some(p) = p.as_mut() {
            p.report.findings = ids;
        }
        steps.extend(p);
    }
    Ok(Plan {
        steps,
        root_dir: root.dir().to_path_buf(),
        home,
    })
}

fn comment_step(
    m: &MachineSnapshot,
    root: &SysRoot,
    r: &rp_kb::Remedy,
    home: Option<&Path>,
    vars: &[(&str, &str)],
    o: &Options,
) -> Option<Planned> {
    let mut s = step(r, FixAction::CommentStartupLines, vars);
    let mut edits: Vec<FileEdit> = Vec::new();
    for e in &m.environment.set_in_files {
        if !r.variables.iter().any(|v| covers(v, &e.name)) || !override_breaks(m, &e.name, &e.value)
        {
            continue;
        }
        let host = root.host(&e.file);
        let what = format!("{}:{} sets {}={}", e.file, e.line, e.name, e.value);
        let in_home = home.is_some_and(|h| host.starts_with(h));
        let why_not = if let Some(w) = &e.not_editable {
            Some(w.clone())
        } else if !in_home && !o.system {
            Some("a system file: pass --system (as root) to change it".into())
        } else {
            None
        };
        if let Some(w) = why_not {
            s.untouched.push(format!("{what}: {w}"));
            continue;
        }
        let data = match edit::read_small(&host) {
            Ok(Some(d)) => d,
            Ok(None) => continue,
            Err(err) => {
                s.untouched.push(format!("{what}: {err}"));
                continue;
            }
        };
        let Some(text) = edit::line_text(&data, e.line) else {
            continue;
        };
        // The edit is made now, on a copy, to prove it parses; apply makes it again.
        let mut lines = edits
            .iter()
            .find(|x| x.host == host)
            .map(|x| x.lines.clone())
            .unwrap_or_default();
        if !lines.iter().any(|(n, _)| *n == e.line) {
            lines.push((e.line, text.clone()));
        }
        let mut names = edits
            .iter()
            .find(|x| x.host == host)
            .map(|x| x.names.clone())
            .unwrap_or_default();
        if !names.contains(&e.name) {
            names.push(e.name.clone());
        }
        if let Err(err) = edit::remove_settings(&data, &host, &lines, &names, "# ", &e.file) {
            s.untouched.push(format!("{what}: {err}"));
            continue;
        }
        if !in_home {
            s.needs_root = true;
        }
        s.changes.push(what);
        match edits.iter_mut().find(|x| x.host == host) {
            Some(x) => {
                x.lines = lines;
                x.names = names;
            }
            None => edits.push(FileEdit { host, lines, names }),
        }
    }
    if edits.is_empty() && s.untouched.is_empty() {
        return None;
    }
    s.undo = "rollback restores every edited file byte for byte".into();
    s.verify = "doctor reads the startup files again: no line sets the override".into();
    let work = if edits.is_empty() {
        s.state = FixStepState::Printed;
        Work::Nothing
    } else {
        Work::Comment(edits)
    };
    Some(Planned { report: s, work })
}

fn venv_step(
    m: &MachineSnapshot,
    r: &rp_kb::Remedy,
    gpu: &str,
    vars: &[(&str, &str)],
    root: &SysRoot,
    o: &Options,
) -> Option<Planned> {
    let kb = rp_kb::kb();
    if gpu.is_empty() {
        return None;
    }
    let stacks: Vec<&rp_kb::Stack> = kb
        .stacks_for(gpu)
        .into_iter()
        .filter(|s| s.for_os(&m.os_ids))
        .collect();
    let mut s = step(r, FixAction::NativeVenv, vars);
    let Some(_) = stacks.iter().find(|st| st.id.starts_with("therock")) else {
        // No TheRock build for this GPU: the routes the knowledge base knows, printed.
        s.action = FixAction::Print;
        s.title = format!("No TheRock device packages for {gpu}: the ways to native code");
        for st in &stacks {
            s.changes.push(format!("{} ({})", st.title, st.reference));
            s.commands.extend(st.commands_for(gpu));
        }
        s.state = FixStepState::Printed;
        s.undo = "nothing is changed".into();
        s.verify = "doctor and probe, once installed".into();
        return Some(Planned {
            report: s,
            work: Work::Nothing,
        });
    };
    let spec = kb.venv_spec();
    let index = match &o.index_url {
        Some(u) => u.clone(),
        None => kb
            .package_index(&o.channel)
            .map(|i| i.url.clone())
            .unwrap_or_default(),
    };
    let packages: Vec<String> = spec
        .packages
        .iter()
        .map(|p| rp_kb::fill(p, &[("gpu", gpu)]))
        .collect();
    let device_packages: Vec<String> = spec
        .device_packages
        .iter()
        .map(|p| rp_kb::fill(p, &[("gpu", gpu)]))
        .collect();
    s.reference = format!(
        "{}; {}",
        s.reference,
        rp_kb::fill(&spec.reference, &[("gpu", gpu)])
    );
    s.undo = "rollback removes the venv".into();
    s.verify = format!(
        "{} installed (pip's exit code is not trusted), and the installed torch carries {gpu} code (its libraries and kpack archives read with inspect)",
        device_packages.join(", ")
    );
    let skip = |mut s: FixPlanStep, why: String| {
        s.state = FixStepState::Skipped;
        s.detail = Some(why);
        Some(Planned {
            report: s,
            work: Work::Nothing,
        })
    };
    let dir = match &o.venv {
        Some(d) => d.clone(),
        None if !root.is_live() => {
            return skip(
                s,
                "with --sysroot, say where the new venv goes with --venv DIR (nothing is written outside the tree unless you name the place)".into(),
            )
        }
        None => return skip(s, "no home directory known for the default venv path: pass --venv DIR".into()),
    };
    if !root.is_live() && dir.starts_with(root.dir()) {
        return skip(
            s,
            format!("--venv {} lies inside the --sysroot tree", dir.display()),
        );
    }
    let min = venv::parse_minor(&spec.python_min).unwrap_or((3, 10));
    let max = venv::parse_minor(&spec.python_max).unwrap_or((3, 14));
    let python = match &o.venv_python {
        Some(p) if !root.is_live() && p.starts_with(root.dir()) => {
            return skip(
                s,
                format!(
                    "--venv-python {} lies inside the --sysroot tree: nothing there is run",
                    p.display()
                ),
            )
        }
        Some(p) => match venv::python_version(p) {
            Ok(v) if v >= min && v <= max => p.clone(),
            Ok(v) => {
                return skip(
                    s,
                    format!(
                        "{} is Python {}.{}; TheRock's wheels are built for {} to {}",
                        p.display(),
                        v.0,
                        v.1,
                        spec.python_min,
                        spec.python_max
                    ),
                )
            }
            Err(e) => return skip(s, e),
        },
        None => match venv::find_python(&o.host_path, min, max) {
            Ok((p, _)) => p,
            Err(e) => {
                return skip(
                    s,
                    format!("{e}; TheRock's wheels are built for Python {} to {}: install one, or name it with --venv-python", spec.python_min, spec.python_max),
                )
            }
        },
    };
    s.changes.push(format!("new venv {}", dir.display()));
    s.changes
        .push(format!("packages: {} (from {index})", packages.join(" ")));
    s.commands
        .push(format!("{} -m venv {}", python.display(), dir.display()));
    s.commands.push(format!(
        "{}/bin/python -m pip --isolated install --index-url {index} {}",
        dir.display(),
        packages
            .iter()
            .map(|p| format!("'{p}'"))
            .collect::<Vec<_>>()
            .join(" ")
    ));
    Some(Planned {
        report: s,
        work: Work::Venv {
            dir,
            python,
            gpu: gpu.to_string(),
            index,
            packages,
            device_packages,
        },
    })
}

fn groups_step(
    m: &MachineSnapshot,
    root: &SysRoot,
    r: &rp_kb::Remedy,
    user: &str,
    vars: &[(&str, &str)],
    o: &Options,
) -> Option<Planned> {
    let mut s = step(r, FixAction::AddGroups, vars);
    s.needs_root = true;
    s.relogin = true;
    let prefix = root.dir().display().to_string();
    let existing: Vec<String> = root
        .read_text(&root.host("/etc/group"), 4 << 20)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(':').next().map(str::to_string))
        .collect();
    let member = rp_deploy::group_members(&prefix, user).unwrap_or_default();
    let groups: Vec<String> = r
        .groups
        .iter()
        .filter(|g| existing.contains(g) && !member.contains(g))
        .cloned()
        .collect();
    if groups.is_empty() {
        s.state = FixStepState::Printed;
        s.detail = Some(format!(
            "{user} is already in {} (or they do not exist): the device nodes' owner or mode is the problem; see doctor",
            r.groups.join(", ")
        ));
        s.undo = "nothing is changed".into();
        s.verify = "doctor".into();
        return Some(Planned {
            report: s,
            work: Work::Nothing,
        });
    }
    let _ = m;
    let cmd = format!("usermod -aG {} {user}", groups.join(","));
    s.changes
        .push(format!("add {user} to {}", groups.join(", ")));
    s.undo = format!("rollback removes {user} from exactly these groups (usermod -rG)");
    s.verify = "the group file lists the user; access itself needs a new login".into();
    if !(o.system && o.is_root) {
        s.state = FixStepState::Printed;
        s.commands.push(format!("sudo {cmd}"));
        s.detail = Some(if o.system {
            "changing groups needs root: run fix as root, or the command yourself".into()
        } else {
            "changing groups is a system change: pass --system (as root), or run the command yourself".into()
        });
        return Some(Planned {
            report: s,
            work: Work::Nothing,
        });
    }
    s.commands.push(if root.is_live() {
        cmd
    } else {
        format!("usermod --prefix {prefix} -aG {} {user}", groups.join(","))
    });
    Some(Planned {
        report: s,
        work: Work::Groups {
            user: user.to_string(),
            groups,
            prefix,
        },
    })
}

/// The user's config file (host path).
fn user_config(m: &MachineSnapshot, root: &SysRoot, home: Option<&Path>) -> Option<PathBuf> {
    if root.is_live() {
        if let Some(x) = m.env.get("XDG_CONFIG_HOME").filter(|x| x.starts_with('/')) {
            return Some(Path::new(x).join("rocm-patch/config.toml"));
        }
    }
    home.map(|h| h.join(".config/rocm-patch/config.toml"))
}

fn config_step(
    m: &MachineSnapshot,
    root: &SysRoot,
    r: &rp_kb::Remedy,
    home: Option<&Path>,
    vars: &[(&str, &str)],
) -> Result<Option<Planned>, FixError> {
    let Some(host) = user_config(m, root, home) else {
        return Ok(None);
    };
    let profile = r.profile.clone().unwrap_or_else(|| "native".into());
    let existing = edit::read_small(&host).map_err(FixError::Usage)?;
    if let Some(d) = &existing {
        let text = String::from_utf8_lossy(d);
        let has_profile = text
            .lines()
            .take_while(|l| !l.trim_start().starts_with('['))
            .any(|l| l.trim_start().starts_with("profile"));
        if has_profile {
            return Ok(None); // the user chose a profile: theirs stands
        }
    }
    let mut s = step(r, FixAction::UserConfig, vars);
    s.changes
        .push(format!("{}: profile = \"{profile}\"", root.machine(&host)));
    s.undo = if existing.is_some() {
        "rollback restores the file byte for byte".into()
    } else {
        "rollback removes the file".into()
    };
    s.verify = format!("`rocm-patch env` resolves the {profile} profile");
    Ok(Some(Planned {
        report: s,
        work: Work::Config { host, profile },
    }))
}

/// What applying did.
#[derive(Debug, Clone, Default)]
pub struct Applied {
    /// The transaction (none when nothing needed changing).
    pub transaction: Option<TxReport>,
}

/// Apply the plan as one transaction in `state_dir`. `progress` gets each line of the
/// long-running commands (pip). `verify_venv` checks a filled venv (device packages
/// are checked here; the code objects by the caller, with the machine layer).
/// On failure the plan's steps say which failed and why; everything is rolled back.
pub fn apply(
    plan: &mut Plan,
    state_dir: &Path,
    o: &Options,
    progress: &mut dyn FnMut(&str),
    verify_venv: &mut dyn FnMut(&Path, &str) -> Result<(), String>,
) -> Result<Applied, FixError> {
    if !plan.changes_anything() {
        return Ok(Applied::default());
    }
    // Files: into the home directory, or the whole root when system files change.
    let system_files = plan.steps.iter().any(|s| match &s.work {
        Work::Comment(edits) => edits
            .iter()
            .any(|e| plan.home.as_ref().is_none_or(|h| !e.host.starts_with(h))),
        _ => false,
    });
    let has_files = plan
        .steps
        .iter()
        .any(|s| matches!(s.work, Work::Comment(_) | Work::Config { .. }));
    let into = match &plan.home {
        Some(h) if has_files && !system_files && h.is_dir() => h.clone(),
        _ => plan.root_dir.clone(),
    };
    let scratch = tempfile::tempdir()
        .map_err(|e| FixError::Usage(format!("cannot make a temporary directory: {e}")))?;
    let works: Vec<(usize, Work)> = plan
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| (i, s.work.clone()))
        .collect();
    let mut actions = Vec::new();
    let mut action_step = Vec::new();
    for (i, w) in &works {
        match w {
            Work::Venv { dir, .. } => {
                let abs = if dir.is_absolute() {
                    dir.clone()
                } else {
                    std::env::current_dir().unwrap_or_default().join(dir)
                };
                actions.push(Action::tree(&abs.display().to_string()));
                action_step.push(*i);
            }
            Work::Groups {
                user,
                groups,
                prefix,
            } => {
                actions.push(Action::groups(user, groups.clone(), prefix));
                action_step.push(*i);
            }
            _ => {}
        }
    }
    let mut failed: Option<(usize, String)> = None;
    let steps_for = |seq: u64| -> Result<Vec<Step>, DeployError> {
        let mut out = Vec::new();
        for (n, (i, w)) in works.iter().enumerate() {
            let (host, data) = match w {
                Work::Comment(edits) => {
                    for (k, e) in edits.iter().enumerate() {
                        let shown = e.host.display().to_string();
                        let data = edit::read_small(&e.host)
                            .map_err(DeployError::Plan)?
                            .ok_or_else(|| {
                                DeployError::Plan(format!("{shown} is gone; run fix again"))
                            })?;
                        let new = edit::remove_settings(
                            &data,
                            &e.host,
                            &e.lines,
                            &e.names,
                            &format!("# rocm-patch fix (transaction {seq}; `rocm-patch rollback {seq}` restores): "),
                            &shown,
                        )
                        .map_err(DeployError::Plan)?;
                        out.push(source_step(&scratch, n * 1000 + k, &into, &e.host, &new)?);
                    }
                    continue;
                }
                Work::Config { host, profile } => {
                    let old = edit::read_small(host).map_err(DeployError::Plan)?;
                    let mut new = format!(
                        "# Written by `rocm-patch fix` (transaction {seq}): the default profile.\nprofile = \"{profile}\"\n"
                    )
                    .into_bytes();
                    if let Some(old) = old {
                        new.push(b'\n');
                        new.extend_from_slice(&old);
                    }
                    (host.clone(), new)
                }
                _ => continue,
            };
            let _ = i;
            out.push(source_step(&scratch, n * 1000, &into, &host, &data)?);
        }
        Ok(out)
    };
    let mut next_action = 0usize;
    let mut fill = |a: &Action| -> Result<(), String> {
        let idx = action_step[next_action];
        next_action += 1;
        let r = match (&works[idx].1, a) {
            (
                Work::Venv {
                    python,
                    index,
                    packages,
                    device_packages,
                    gpu,
                    ..
                },
                Action::Tree { path, .. },
            ) => fill_venv(
                Path::new(path),
                python,
                index,
                packages,
                device_packages,
                gpu,
                progress,
                verify_venv,
            ),
            _ => Ok(()),
        };
        if let Err(e) = &r {
            failed = Some((idx, e.clone()));
        }
        r
    };
    let res = rp_deploy::transact(
        state_dir,
        &DeployOptions {
            into: into.clone(),
            system: system_files && o.system,
            no_load_check: true,
            allow_special_modes: false,
            command: o.command.clone(),
            env: BTreeMap::new(),
        },
        steps_for,
        actions,
        &mut fill,
    );
    match res {
        Ok(tx) => {
            for s in plan.steps.iter_mut() {
                if s.report.state == FixStepState::Planned && !matches!(s.work, Work::Nothing) {
                    s.report.state = FixStepState::Done;
                }
            }
            Ok(Applied {
                transaction: Some(tx),
            })
        }
        Err(e) => {
            let cause = e.to_string();
            let (idx, detail) = failed.unwrap_or_else(|| {
                let i = plan
                    .steps
                    .iter()
                    .position(|s| matches!(s.work, Work::Comment(_) | Work::Config { .. }))
                    .unwrap_or(0);
                (i, cause.clone())
            });
            if let Some(s) = plan.steps.get_mut(idx) {
                s.report.state = FixStepState::Failed;
                s.report.detail = Some(detail);
            }
            Err(e.into())
        }
    }
}

/// A file step whose new content is written to the scratch directory first.
fn source_step(
    scratch: &tempfile::TempDir,
    n: usize,
    into: &Path,
    host: &Path,
    data: &[u8],
) -> Result<Step, DeployError> {
    let src = scratch.path().join(format!("content-{n}"));
    std::fs::write(&src, data).map_err(|e| DeployError::Plan(format!("{}: {e}", src.display())))?;
    let target = host
        .strip_prefix(into)
        .map_err(|_| {
            DeployError::Plan(format!(
                "{} lies outside {}",
                host.display(),
                into.display()
            ))
        })?
        .to_path_buf();
    Ok(Step::File {
        source: src,
        target,
        mode: None,
    })
}

/// Make the venv, install into it from one index, and verify what arrived.
#[expect(
    clippy::too_many_arguments,
    reason = "the plan's inputs, each used once"
)]
fn fill_venv(
    dir: &Path,
    python: &Path,
    index: &str,
    packages: &[String],
    device_packages: &[String],
    gpu: &str,
    progress: &mut dyn FnMut(&str),
    verify_venv: &mut dyn FnMut(&Path, &str) -> Result<(), String>,
) -> Result<(), String> {
    let mut c = std::process::Command::new(python);
    c.arg("-m").arg("venv").arg(dir);
    venv::stream(c, "python -m venv", progress)?;
    let mut c = std::process::Command::new(dir.join("bin/python"));
    c.args([
        "-m",
        "pip",
        "--isolated",
        "--disable-pip-version-check",
        "--no-input",
        "install",
        "--index-url",
        index,
    ])
    .args(packages)
    .env_remove("PIP_EXTRA_INDEX_URL")
    .env_remove("PIP_INDEX_URL")
    .env_remove("PYTHONPATH");
    venv::stream(c, "pip install", progress)?;
    let have = venv::installed(dir);
    let missing: Vec<&String> = device_packages
        .iter()
        .filter(|d| !have.iter().any(|(n, _)| n == &venv::normalize(d)))
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "pip exited 0, but {} is not installed: the index has no device-{gpu} extra for these packages (pip only warns about a missing extra; TheRock #5347)",
            missing
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    verify_venv(dir, gpu)
}

/// What became of the error findings of `before`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Comparison {
    /// Gone after the fix.
    pub fixed: Vec<String>,
    /// Still there after it.
    pub remaining: Vec<String>,
    /// About an environment in `untouched` (one the fix left alone and the second
    /// doctor did not read): neither fixed nor known to remain.
    pub superseded: Vec<String>,
}

/// Error findings of `before` that are not in `after` (by id and subject), those still
/// in `after`, and those about an environment in `untouched` (a finding's subject
/// names its environment first: `/home/u/venv / node 1`).
pub fn compare(
    before: &[FindingBrief],
    after: &[FindingBrief],
    untouched: &[String],
) -> Comparison {
    let key = |f: &FindingBrief| match &f.subject {
        Some(s) => format!("{} ({s})", f.id),
        None => f.id.clone(),
    };
    let errs = |v: &[FindingBrief]| -> Vec<(String, Option<String>)> {
        v.iter()
            .filter(|f| f.severity == Severity::Error)
            .map(|f| (key(f), f.subject.clone()))
            .collect()
    };
    let of_untouched = |s: &Option<String>| {
        s.as_deref().is_some_and(|s| {
            untouched
                .iter()
                .any(|e| s == e || s.starts_with(&format!("{e} / ")))
        })
    };
    let (b, a) = (errs(before), errs(after));
    let after_keys: Vec<&String> = a.iter().map(|(k, _)| k).collect();
    let mut out = Comparison {
        remaining: a.iter().map(|(k, _)| k.clone()).collect(),
        ..Comparison::default()
    };
    for (k, subject) in &b {
        if after_keys.contains(&k) {
            continue;
        }
        if of_untouched(subject) {
            out.superseded.push(k.clone());
        } else {
            out.fixed.push(k.clone());
        }
    }
    out
}
