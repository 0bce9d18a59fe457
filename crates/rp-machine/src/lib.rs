//! The machine layer: every read of a machine goes through here, once per command.
//!
//! A [`SysRoot`] maps machine paths to host paths (this machine is `/`; a tree handed to
//! us with `--sysroot` is another) and performs every read, bounded in size and time.
//! [`snapshot`] reads a machine into one immutable [`MachineSnapshot`]: GPUs from the
//! KFD topology and the PCI bus, how the runtime sees each under the environment, the
//! driver and device access, ROCm installs, Python environments with the code objects
//! of their torch, users and groups, and the startup files that set GPU variables.
//! Commands (doctor's rules, env, explain, deploy) work on the snapshot. Nothing here
//! writes, prints, or runs a program from below a sysroot.
#![deny(missing_docs)]

mod gpus;
mod identity;
mod ids;
mod miopen;
mod pipconf;
mod python;
mod read;
mod rocm;
mod root;
mod runtime;
pub mod shell;
mod startup;
pub mod sysfs;

pub use identity::{Identity, IdentityError, Users};
pub use ids::{parse_amdgpu_ids, pci_ids_name};
pub use python::{parse_version_py, run_python};
pub use read::{parse_hex, ReadError, ReadProblem, Reader};
pub use rocm::{collect as rocm_installs, loader_dirs};
pub use root::{RootError, SysRoot, MAX_TEXT};
pub use runtime::override_for;
pub use startup::{dialect as startup_dialect, gpu_related, parse_line as parse_startup_line};

use rp_report::{
    DeviceNode, Driver, Environment, FoundBy, Gpu, InspectReport, PythonEnv, RocmInstall, RocmKind,
    TensileDir, Vendor,
};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One key of an os-release file (os-release(5)), unquoted.
pub fn os_release(text: &str, key: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let v = l.trim().strip_prefix(key)?.strip_prefix('=')?;
        Some(v.trim().trim_matches('"').trim_matches('\'').to_string())
    })
}

/// The distribution's `ID` and `ID_LIKE` words (os-release(5): /etc/os-release, else
/// /usr/lib/os-release); empty when unknown.
fn os_ids(root: &SysRoot) -> Vec<String> {
    let text = ["/etc/os-release", "/usr/lib/os-release"]
        .iter()
        .find_map(|p| root.read_text(&root.host(p), 64 * 1024).ok());
    let Some(text) = text else { return Vec::new() };
    ["ID", "ID_LIKE"]
        .iter()
        .filter_map(|k| os_release(&text, k))
        .flat_map(|v| v.split_whitespace().map(str::to_string).collect::<Vec<_>>())
        .collect()
}

/// What to read.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Interpreters or environment directories (host paths); empty means discover them.
    pub pythons: Vec<PathBuf>,
    /// Check device access for this user instead of this process.
    pub user: Option<String>,
    /// The environment the user's programs would run with.
    pub env: BTreeMap<String, String>,
    /// The current directory (a host path).
    pub cwd: PathBuf,
    /// Also read ROCm installs and Python environments (doctor); without it only the
    /// GPUs, driver and environment are read (env, explain).
    pub full: bool,
    /// Where checks too slow to repeat on every run keep their results (MIOpen's
    /// batch-norm kernels, by file identity); none: nothing is cached.
    pub cache_dir: Option<PathBuf>,
}

/// Why the machine could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum MachineError {
    /// `--user` names nobody.
    #[error("{0}")]
    User(String),
}

/// One Python environment with the code-object inventory of its torch libraries.
#[derive(Debug, Clone)]
pub struct PythonSnapshot {
    /// The environment as reported.
    pub env: PythonEnv,
    /// What `inspect` found in torch/lib.
    pub inventory: Option<InspectReport>,
}

/// Everything read from one machine, once. (`Default` is an empty machine, for building
/// snapshots in memory.)
#[derive(Debug, Clone, Default)]
pub struct MachineSnapshot {
    /// The root as shown (`/` for this machine).
    pub sysroot: String,
    /// This machine, not a tree.
    pub live: bool,
    /// The deadline of one read.
    pub timeout: std::time::Duration,
    /// The kernel's view (topology, PCI, modules, device nodes, failed reads).
    pub sysfs: sysfs::Sysfs,
    /// GPUs: AMD GPUs in KFD node order, then the others; AMD ones with their runtime
    /// view under [`Self::env`].
    pub gpus: Vec<Gpu>,
    /// The user access was checked for.
    pub identity: Identity,
    /// /etc/passwd and /etc/group.
    pub users: Users,
    /// The user's home directory (machine path), when known.
    pub home: Option<String>,
    /// The distribution's os-release `ID` and `ID_LIKE` words (empty: unknown).
    pub os_ids: Vec<String>,
    /// Driver and device access.
    pub driver: Driver,
    /// The environment the user's programs run with.
    pub env: BTreeMap<String, String>,
    /// GPU-related variables, their effects, and the startup files that set them.
    pub environment: Environment,
    /// `/proc/cmdline`.
    pub kernel_cmdline: String,
    /// ROCm installs (empty unless [`Options::full`]).
    pub rocm: Vec<RocmInstall>,
    /// The Tensile directory `ROCBLAS_TENSILE_LIBPATH` names, inventoried.
    pub rocblas_env_library: Option<TensileDir>,
    /// Python environments checked (empty unless [`Options::full`]).
    pub python: Vec<PythonSnapshot>,
    /// Whether any place to look for Python was found at all.
    pub python_candidates: usize,
}

impl MachineSnapshot {
    /// AMD GPUs with a KFD node and a known target.
    pub fn kfd_gpus(&self) -> impl Iterator<Item = &Gpu> {
        self.gpus
            .iter()
            .filter(|g| g.vendor == Vendor::Amd && g.node.is_some() && g.gfx_target.is_some())
    }
}

/// The home directory of the identity: `$HOME` on this machine, the user's entry in the
/// tree's /etc/passwd below a sysroot (never the host's `$HOME`).
fn home_of(
    root: &SysRoot,
    users: &Users,
    who: &Identity,
    env: &BTreeMap<String, String>,
) -> Option<String> {
    if root.is_live() && who.is_process {
        if let Some(h) = env.get("HOME").filter(|h| h.starts_with('/')) {
            return Some(h.clone());
        }
    }
    users.home_of(who.uid)
}

/// Read the machine below `root`.
pub fn snapshot(root: &SysRoot, o: &Options) -> Result<MachineSnapshot, MachineError> {
    let users = Users::read(root);
    let identity = match &o.user {
        Some(u) => Identity::lookup(&users, u, &root.host("/etc/passwd").display().to_string())
            .map_err(|e| MachineError::User(e.0))?,
        None => Identity::current(&users, root.is_live()),
    };
    let sysfs = sysfs::read(root);
    let mut g = gpus::collect(&sysfs, root, &mut ids::Ids::default());
    runtime::apply(&mut g.list, &g.unique_ids, &o.env);
    let mut environment = runtime::report(&g.list, &o.env);
    let home = home_of(root, &users, &identity, &o.env);
    let home_host = home.as_deref().map(|h| root.host(h));
    let found = startup::settings(root, home_host.as_deref());
    environment.set_in_files = found.settings;
    environment.unread_files = found.unread;
    let driver = driver(&sysfs, &g.list, root, &identity, &users);
    let kernel_cmdline = root
        .read_text(&root.host("/proc/cmdline"), 64 * 1024)
        .unwrap_or_default();
    // The current directory counts only when it is on the machine.
    let cwd = Some(o.cwd.as_path()).filter(|c| root.contains(c));
    let (mut rocm, mut python, mut python_candidates) = (Vec::new(), Vec::new(), 0);
    let mut rocblas_env_library = None;
    if o.full {
        rocm = rocm::collect(root, &o.env);
        // The GPUs' own targets: what MIOpen compiles its kernels for.
        let gpu_targets: Vec<String> = g
            .list
            .iter()
            .filter(|x| x.node.is_some())
            .filter_map(|x| x.gfx_target.clone())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        for r in &mut rocm {
            let lib = match r.kind {
                RocmKind::Opt => root.host(&r.path).join("lib"),
                RocmKind::Distro => root.host(&r.path),
            };
            r.miopen = miopen::libraries_in(root, &lib)
                .iter()
                .filter_map(|l| miopen::check(root, l, &gpu_targets, o.cache_dir.as_deref()))
                .collect();
        }
        rocblas_env_library = o.env.get("ROCBLAS_TENSILE_LIBPATH").map(|p| {
            rocm::tensile_dir(root, &root.host(p)).unwrap_or(TensileDir {
                path: p.clone(),
                ..Default::default()
            })
        });
        let candidates: Vec<python::Candidate> = if o.pythons.is_empty() {
            python::discover(&o.env, root, cwd)
        } else {
            o.pythons
                .iter()
                .map(|p| python::Candidate {
                    path: if p.is_absolute() {
                        p.clone()
                    } else {
                        o.cwd.join(p)
                    },
                    found_by: FoundBy::Flag,
                })
                .collect()
        };
        python_candidates = candidates.len();
        let look = python::Look {
            root,
            vars: &o.env,
            cwd,
            home: home_host.as_deref(),
            gpu_targets: &gpu_targets,
            cache_dir: o.cache_dir.as_deref(),
        };
        let mut seen_sites = std::collections::HashSet::new();
        for c in &candidates {
            // The environment's activation scripts are startup files too.
            let prefix = if root.is_dir(&c.path) {
                Some(c.path.clone())
            } else {
                c.path
                    .parent()
                    .and_then(Path::parent)
                    .map(Path::to_path_buf)
            };
            if let Some(prefix) = prefix {
                let found = startup::env_scripts(root, &prefix, home_host.as_deref());
                for s in found.settings {
                    if !environment.set_in_files.contains(&s) {
                        environment.set_in_files.push(s);
                    }
                }
                for u in found.unread {
                    if !environment.unread_files.contains(&u) {
                        environment.unread_files.push(u);
                    }
                }
            }
            let (env, inventory) = python::read_env(c, &look);
            // The same environment found twice (VIRTUAL_ENV and PATH) is reported once.
            if !env.site_packages.is_empty() && !seen_sites.insert(env.site_packages.clone()) {
                continue;
            }
            python.push(PythonSnapshot { env, inventory });
        }
    }
    Ok(MachineSnapshot {
        sysroot: root.display(),
        live: root.is_live(),
        timeout: root.timeout(),
        // Failed reads so far, Python and ROCm included.
        sysfs: sysfs::Sysfs {
            problems: root.reader().problems(),
            ..sysfs
        },
        gpus: g.list,
        identity,
        users,
        home,
        os_ids: os_ids(root),
        driver,
        env: o.env.clone(),
        environment,
        kernel_cmdline,
        rocm,
        rocblas_env_library,
        python,
        python_candidates,
    })
}

fn driver(m: &sysfs::Sysfs, gpus: &[Gpu], root: &SysRoot, who: &Identity, users: &Users) -> Driver {
    let owner = |n: &sysfs::DevNode| {
        let user = users.user_name(n.uid).unwrap_or_else(|| n.uid.to_string());
        let group = users.group_name(n.gid).unwrap_or_else(|| n.gid.to_string());
        format!("{user}:{group} {:04o}", n.mode)
    };
    let node_report = |path: &str, n: Option<&sysfs::DevNode>| match n {
        // On this machine a device node must be a character device; anything else in
        // its place (a file, a directory) is reported, never opened. In a tree (where
        // nodes are plain files) a directory is never one either.
        Some(n) if n.dir || (root.is_live() && !n.char_device) => DeviceNode {
            path: path.to_string(),
            exists: true,
            owner: Some(format!("{}, not a character device", owner(n))),
            accessible: false,
        },
        Some(n) => DeviceNode {
            path: path.to_string(),
            exists: true,
            owner: Some(owner(n)),
            accessible: who.can_rw(&root.host(path), n.uid, n.gid, n.mode),
        },
        None => DeviceNode {
            path: path.to_string(),
            exists: false,
            owner: None,
            accessible: false,
        },
    };
    let mut device_nodes = Vec::new();
    let any_amd = gpus.iter().any(|g| g.vendor == Vendor::Amd);
    if any_amd || m.kfd_node.is_some() {
        device_nodes.push(node_report("/dev/kfd", m.kfd_node.as_ref()));
    }
    for g in gpus.iter().filter(|g| g.vendor == Vendor::Amd) {
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
