//! The plan: from doctor's findings to the steps that answer them (which remedy
//! answers which finding is data: rp-kb `data/remedies.toml`).

use crate::{edit, venv, FileEdit, FixError, Options, Plan, Planned, Work};
use rp_kb::{OverrideCompat, RemedyAction};
use rp_machine::{MachineSnapshot, SysRoot};
use rp_report::{DoctorReport, FixAction, FixPlanStep, FixStepState};
use std::path::{Path, PathBuf};

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
