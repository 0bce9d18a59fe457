//! `rocm-patch doctor`: read the machine and say what is wrong, why, and the fix.
//!
//! The machine is read through a sysroot (GPUs from the KFD topology and the PCI bus,
//! driver state, device-node access), the environment is taken as given, ROCm installs
//! and Python environments are read from their files, and findings come from the
//! knowledge base's catalog. Nothing here prints or writes.
#![deny(missing_docs)]

mod env;
mod findings;
mod gpus;
mod ids;
mod python;
mod rocm;

use rp_report::{DeviceNode, DoctorReport, Driver, SCHEMA};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use ids::{parse_amdgpu_ids, pci_ids_name};
pub use python::parse_version_py;
pub use rocm::loader_dirs;

/// What to examine.
#[derive(Debug, Clone)]
pub struct Options {
    /// Root of the machine (`/` for this one).
    pub sysroot: PathBuf,
    /// Interpreters or environment directories; empty means discover them.
    pub pythons: Vec<PathBuf>,
    /// Check device access for this user instead of this process.
    pub user: Option<String>,
    /// The environment the user's programs would run with.
    pub env: BTreeMap<String, String>,
    /// Directory searched for venvs.
    pub cwd: PathBuf,
    /// Deadline for each sysfs read.
    pub timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            sysroot: PathBuf::from("/"),
            pythons: Vec::new(),
            user: None,
            env: BTreeMap::new(),
            cwd: PathBuf::from("."),
            timeout: Duration::from_secs(2),
        }
    }
}

/// Why doctor could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum DoctorError {
    /// The sysroot is missing.
    #[error("sysroot {0} is not a directory")]
    Sysroot(String),
    /// `--user` names nobody.
    #[error("{0}")]
    User(String),
}

/// Examine the machine.
pub fn doctor(opts: &Options) -> Result<DoctorReport, DoctorError> {
    let root = opts.sysroot.as_path();
    if !root.is_dir() {
        return Err(DoctorError::Sysroot(root.display().to_string()));
    }
    let identity = match &opts.user {
        Some(u) => rp_sysfs::Identity::lookup(root, u).map_err(|e| DoctorError::User(e.0))?,
        None => rp_sysfs::Identity::current(root),
    };
    let (machine, g) = read_gpus(root, &opts.env, opts.timeout);
    let environment = env::report(&g.list, &opts.env);
    let driver = driver(&machine, &g.list, root, &identity);
    let rocm = rocm::collect(root, &opts.env);
    let candidates: Vec<python::Candidate> = if opts.pythons.is_empty() {
        python::discover(&opts.env, root, &opts.cwd)
    } else {
        opts.pythons
            .iter()
            .map(|p| python::Candidate {
                path: if p.is_absolute() {
                    p.clone()
                } else {
                    opts.cwd.join(p)
                },
                found_by: "--python".into(),
            })
            .collect()
    };
    let mut python = Vec::new();
    let mut inspected = Vec::new();
    let mut seen_sites = std::collections::HashSet::new();
    for c in &candidates {
        let (env, rep) = python::read_env(c, root, &opts.env, &opts.cwd);
        // The same environment found twice (VIRTUAL_ENV and PATH) is reported once.
        if !env.site_packages.is_empty() && !seen_sites.insert(env.site_packages.clone()) {
            continue;
        }
        python.push(env);
        inspected.push(rep);
    }
    let mut report = DoctorReport {
        schema: SCHEMA,
        sysroot: root.display().to_string(),
        gpus: g.list,
        driver,
        environment,
        rocm,
        python,
        findings: Vec::new(),
    };
    findings::support(&mut report, &inspected, &opts.env, root);
    report.findings = findings::all(
        &report,
        &machine,
        &opts.env,
        &identity,
        root,
        &candidates,
        opts.timeout,
    );
    Ok(report)
}

/// Only the GPUs and how the runtime sees them under `env` (no Python, no ROCm scan):
/// what `explain` needs to tailor its fixes.
pub fn gpus(
    sysroot: &Path,
    env: &BTreeMap<String, String>,
    timeout: Duration,
) -> Result<Vec<rp_report::Gpu>, DoctorError> {
    if !sysroot.is_dir() {
        return Err(DoctorError::Sysroot(sysroot.display().to_string()));
    }
    Ok(read_gpus(sysroot, env, timeout).1.list)
}

/// Read the machine and its GPUs, with each AMD GPU's runtime view under `env`.
fn read_gpus(
    root: &Path,
    env: &BTreeMap<String, String>,
    timeout: Duration,
) -> (rp_sysfs::Machine, gpus::Gpus) {
    let reader = rp_sysfs::Reader::new(root, timeout);
    let machine = rp_sysfs::read_machine(&reader);
    let mut g = gpus::collect(&machine, root, &mut ids::Ids::default());
    env::apply(&mut g.list, &g.unique_ids, env);
    (machine, g)
}

fn driver(
    m: &rp_sysfs::Machine,
    gpus: &[rp_report::Gpu],
    root: &Path,
    who: &rp_sysfs::Identity,
) -> Driver {
    let owner = |n: &rp_sysfs::DevNode| {
        let user = rp_sysfs::user_name(root, n.uid).unwrap_or_else(|| n.uid.to_string());
        let group = rp_sysfs::group_name(root, n.gid).unwrap_or_else(|| n.gid.to_string());
        format!("{user}:{group} {:04o}", n.mode)
    };
    let node_report = |path: &str, n: Option<&rp_sysfs::DevNode>| match n {
        Some(n) => DeviceNode {
            path: path.to_string(),
            exists: true,
            owner: Some(owner(n)),
            accessible: who.can_rw(root, path, n.uid, n.gid, n.mode),
        },
        None => DeviceNode {
            path: path.to_string(),
            exists: false,
            owner: None,
            accessible: false,
        },
    };
    let mut device_nodes = Vec::new();
    let any_amd = gpus.iter().any(|g| g.vendor == "amd");
    if any_amd || m.kfd_node.is_some() {
        device_nodes.push(node_report("/dev/kfd", m.kfd_node.as_ref()));
    }
    for g in gpus.iter().filter(|g| g.vendor == "amd") {
        if let Some(r) = &g.render_node {
            let path = format!("/dev/dri/{r}");
            if !device_nodes.iter().any(|d| d.path == path) {
                device_nodes.push(node_report(&path, m.render_nodes.get(r)));
            }
        }
    }
    let user = who
        .name
        .clone()
        .unwrap_or_else(|| format!("uid {}", who.uid));
    Driver {
        amdgpu_loaded: m.modules.amdgpu,
        kfd_topology: m.topology.as_ref().map(|t| t.path.clone()),
        user,
        device_nodes,
        amdgpu_parameters: m.modules.amdgpu_params.clone(),
    }
}
