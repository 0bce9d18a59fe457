//! Do a shared library's dependencies resolve, as the dynamic loader would find them?
//! DT_NEEDED entries are searched in DT_RPATH (when there is no DT_RUNPATH),
//! LD_LIBRARY_PATH, DT_RUNPATH, the ld.so.conf directories and the default directories,
//! with `$ORIGIN` expanded (ld.so(8)); found libraries are followed in turn.

use object::elf;
use object::read::elf::{Dyn, FileHeader, SectionHeader};
use object::Endianness;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};

/// What an ELF file needs.
#[derive(Debug, Default)]
struct Dynamic {
    needed: Vec<String>,
    rpath: Vec<String>,
    runpath: Vec<String>,
    soname: Option<String>,
    machine: u16,
}

/// Parse a file's dynamic section through a memory map: only the pages the headers and
/// the dynamic section live on are read, however large the library.
fn load(p: &Path) -> Option<Dynamic> {
    let f = std::fs::File::open(p).ok()?;
    if !f.metadata().ok()?.is_file() {
        return None;
    }
    // A read-only map of a file we only parse; a concurrent truncation is the same risk
    // every ELF reader (ld.so included) takes.
    let map = rp_sys::mmap::map(&f).ok()?;
    dynamic(&map)
}

/// The DT_SONAME of a shared library, if it has one.
pub fn soname(p: &Path) -> Option<String> {
    load(p)?.soname
}

/// Read DT_NEEDED/RPATH/RUNPATH of a 64-bit little-endian ELF; `None` if it is not one
/// (or has no dynamic section: nothing to resolve).
fn dynamic(data: &[u8]) -> Option<Dynamic> {
    let hdr = elf::FileHeader64::<Endianness>::parse(data).ok()?;
    let e = hdr.endian().ok()?;
    let sections = hdr.sections(e, data).ok()?;
    let dynsec = sections.iter().find(|s| s.sh_type(e) == elf::SHT_DYNAMIC)?;
    let entries = dynsec
        .data_as_array::<elf::Dyn64<Endianness>, _>(e, data)
        .ok()?;
    let strtab = sections
        .strings(e, data, object::SectionIndex(dynsec.sh_link(e) as usize))
        .ok()?;
    let mut d = Dynamic {
        machine: hdr.e_machine(e),
        ..Dynamic::default()
    };
    for ent in entries {
        let tag = ent.d_tag(e) as u32;
        let s = || {
            ent.string(e, strtab)
                .ok()
                .map(|b| String::from_utf8_lossy(b).into_owned())
        };
        match tag {
            elf::DT_NEEDED => d.needed.extend(s()),
            elf::DT_SONAME => d.soname = s(),
            elf::DT_RPATH => d.rpath.extend(s().map(|x| split(&x)).unwrap_or_default()),
            elf::DT_RUNPATH => d.runpath.extend(s().map(|x| split(&x)).unwrap_or_default()),
            _ => {}
        }
    }
    Some(d)
}

fn split(s: &str) -> Vec<String> {
    s.split(':')
        .filter(|x| !x.is_empty())
        .map(str::to_string)
        .collect()
}

fn expand(dir: &str, origin: &Path) -> PathBuf {
    let o = origin.display().to_string();
    PathBuf::from(dir.replace("${ORIGIN}", &o).replace("$ORIGIN", &o))
}

/// Sonames the file needs that cannot be found, as `soname (needed by FILE)`.
/// Non-ELF files, device code objects and static files return nothing.
pub fn missing(file: &Path, env: &BTreeMap<String, String>) -> Vec<String> {
    if std::fs::File::open(file).is_err() {
        return vec![format!("cannot read {}", file.display())];
    }
    let Some(root) = load(file) else {
        return Vec::new();
    };
    if root.machine != elf::EM_X86_64 && root.machine != elf::EM_AARCH64 {
        return Vec::new();
    }
    let ld_library_path: Vec<String> = env
        .get("LD_LIBRARY_PATH")
        .map(|v| split(v))
        .unwrap_or_default();
    // ld.so.conf and the defaults (what ld.so.cache is built from).
    let live = rp_machine::SysRoot::live(std::time::Duration::from_secs(2));
    let system: Vec<String> = rp_machine::loader_dirs(&live, &BTreeMap::new());
    let mut out = Vec::new();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut queue = VecDeque::new();
    queue.push_back((file.to_path_buf(), root, Vec::<PathBuf>::new()));
    let mut budget = 2000;
    while let Some((path, d, inherited_rpath)) = queue.pop_front() {
        budget -= 1;
        if budget == 0 {
            break;
        }
        let origin = path.parent().unwrap_or(Path::new("/")).to_path_buf();
        // DT_RPATH applies (with the loader chain's RPATHs) only when there is no RUNPATH.
        let mut rpath = Vec::new();
        if d.runpath.is_empty() {
            rpath.extend(d.rpath.iter().map(|r| expand(r, &origin)));
            rpath.extend(inherited_rpath.iter().cloned());
        }
        let runpath: Vec<PathBuf> = d.runpath.iter().map(|r| expand(r, &origin)).collect();
        for need in &d.needed {
            if !seen.insert(need.clone()) {
                continue;
            }
            if need.contains('/') {
                if !Path::new(need).exists() {
                    out.push(format!("{need} (needed by {})", path.display()));
                }
                continue;
            }
            let dirs = rpath
                .iter()
                .cloned()
                .chain(ld_library_path.iter().map(PathBuf::from))
                .chain(runpath.iter().cloned())
                .chain(system.iter().map(PathBuf::from));
            // The first candidate of the same machine, parsed once.
            let found = dirs
                .map(|dir| dir.join(need))
                .find_map(|p| load(&p).filter(|x| x.machine == d.machine).map(|x| (p, x)));
            match found {
                Some((p, dd)) => {
                    let inherit = if d.runpath.is_empty() {
                        rpath.clone()
                    } else {
                        Vec::new()
                    };
                    queue.push_back((p, dd, inherit));
                }
                None => out.push(format!("{need} (needed by {})", path.display())),
            }
        }
    }
    out
}
