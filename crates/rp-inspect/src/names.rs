//! GPU library data files recognised by name: rocBLAS Tensile, hipBLASLt TensileLite
//! and MIOpen databases (docs/code-objects.md).

use rp_report::{LibraryFile, LibraryKind, LibraryRole};
use std::path::Path;

/// Turn the `gfx90a-xnack+` spelling used in Tensile file names into a target id
/// (`gfx90a:xnack+`).
pub fn target_from_name_token(tok: &str) -> Option<String> {
    let rest = tok.strip_prefix("gfx")?;
    let n = rest.bytes().take_while(|b| b.is_ascii_hexdigit()).count();
    if n < 3 {
        return None;
    }
    let mut out = format!("gfx{}", &rest[..n]);
    let mut feats = &rest[n..];
    while !feats.is_empty() {
        let f = feats.strip_prefix('-')?;
        let feat = ["xnack+", "xnack-", "sramecc+", "sramecc-"]
            .into_iter()
            .find(|x| f.starts_with(x))?;
        out.push(':');
        out.push_str(feat);
        feats = &f[feat.len()..];
    }
    Some(out)
}

fn is_arch_dir(name: &str) -> bool {
    // Per-arch subdirectories: `gfx1030`, and hipBLASLt's `gfx1250v0` style.
    name.strip_prefix("gfx").is_some_and(|rest| {
        let hex: String = rest.chars().take_while(|c| c.is_ascii_hexdigit()).collect();
        hex.len() >= 3 && rest[hex.len()..].chars().all(|c| c.is_ascii_alphanumeric())
    })
}

fn arch_of_dir(name: &str) -> String {
    let hex: String = name[3..]
        .chars()
        .take_while(|c| c.is_ascii_hexdigit())
        .collect();
    format!("gfx{hex}")
}

/// The arch token at the end of a Tensile stem: the last `_`-separated part.
fn last_token_arch(stem: &str) -> Option<String> {
    stem.rsplit('_').next().and_then(target_from_name_token)
}

/// Is this path inside a Tensile `library` directory (directly or in a per-arch
/// subdirectory)? Returns the library directory and the per-arch directory's arch.
pub fn tensile_dir(path: &Path) -> Option<(&Path, Option<String>)> {
    let parent = path.parent()?;
    let pname = parent.file_name()?.to_str()?;
    if pname == "library" {
        return Some((parent, None));
    }
    if is_arch_dir(pname) {
        let lib = parent.parent()?;
        if lib.file_name()?.to_str()? == "library" {
            return Some((lib, Some(arch_of_dir(pname))));
        }
    }
    None
}

fn strip_ext(name: &str) -> Option<(&str, &str)> {
    for ext in [
        ".dat.zlib",
        ".dat",
        ".yaml",
        ".co",
        ".hsaco",
        ".txt",
        ".zlib",
    ] {
        if let Some(stem) = name.strip_suffix(ext) {
            return Some((stem, ext));
        }
    }
    None
}

/// Classify a file by its name, or `None` when it is no GPU library data file.
pub fn classify(path: &Path) -> Option<LibraryFile> {
    let name = path.file_name()?.to_str()?;
    let in_lib = tensile_dir(path);
    let dir_arch = in_lib.as_ref().and_then(|(_, a)| a.clone());
    let lib = |library: LibraryKind, role: LibraryRole, arch: Option<String>| {
        Some(LibraryFile {
            library,
            role,
            arch: dir_arch.clone().or(arch),
        })
    };

    // Tensile HIP-source kernels: Kernels.so-000-gfx90a-xnack-.hsaco
    if let Some(rest) = name.strip_prefix("Kernels.so-") {
        let rest = rest.strip_suffix(".hsaco")?;
        let (num, target) = rest.split_once('-')?;
        if num.len() == 3 && num.bytes().all(|b| b.is_ascii_digit()) {
            return lib(
                LibraryKind::RocblasTensile,
                LibraryRole::CodeObject,
                target_from_name_token(target),
            );
        }
        return None;
    }
    if let Some(stem) = name.strip_prefix("TensileLibrary") {
        let (stem, ext) = strip_ext(stem)?;
        let role = match ext {
            ".co" | ".hsaco" => LibraryRole::CodeObject,
            _ => LibraryRole::Catalog,
        };
        if stem.is_empty() {
            // TensileLibrary.dat: the old all-arch master catalog.
            return lib(
                LibraryKind::RocblasTensile,
                LibraryRole::MasterCatalog,
                None,
            );
        }
        if let Some(arch) = stem.strip_prefix("_lazy_") {
            return lib(
                LibraryKind::RocblasTensile,
                LibraryRole::MasterCatalog,
                target_from_name_token(arch),
            );
        }
        if stem.starts_with("_Type_") {
            return lib(LibraryKind::RocblasTensile, role, last_token_arch(stem));
        }
        // TensileLibrary_gfx1030.dat / .co (non-lazy).
        let arch = stem.strip_prefix('_').and_then(target_from_name_token);
        let role = if role == LibraryRole::Catalog {
            LibraryRole::MasterCatalog
        } else {
            role
        };
        return lib(LibraryKind::RocblasTensile, role, arch);
    }
    if let Some(stem) = name.strip_prefix("TensileLiteLibrary") {
        let (stem, _) = strip_ext(stem)?;
        // TensileLiteLibrary_lazy_Mapping / TensileLiteLibrary_lazy_<gfx>_Mapping
        if let Some(m) = stem.strip_prefix("_lazy_") {
            let arch = m.strip_suffix("_Mapping").and_then(target_from_name_token);
            return lib(LibraryKind::Hipblaslt, LibraryRole::MasterCatalog, arch);
        }
        return lib(
            LibraryKind::Hipblaslt,
            LibraryRole::Catalog,
            last_token_arch(stem),
        );
    }
    if let Some(rest) = name.strip_prefix("extop_") {
        let stem = rest.strip_suffix(".co")?;
        return lib(
            LibraryKind::Hipblaslt,
            LibraryRole::CodeObject,
            target_from_name_token(stem),
        );
    }
    if let Some(rest) = name.strip_prefix("hipblaslt-jit-knowledge-") {
        let stem = rest
            .strip_suffix(".dat.zlib")
            .or_else(|| rest.strip_suffix(".dat"))?;
        return lib(
            LibraryKind::Hipblaslt,
            LibraryRole::Catalog,
            target_from_name_token(stem),
        );
    }
    if matches!(
        name,
        "hipblasltExtOpLibrary.dat" | "hipblasltTransform.hsaco" | "TensileManifest.txt"
    ) {
        return lib(LibraryKind::Hipblaslt, LibraryRole::Catalog, None);
    }
    // Other Tensile-directory files named for an arch (the code object of a lazy
    // child under a per-arch directory, …).
    if in_lib.is_some() {
        if let Some((stem, ext)) = strip_ext(name) {
            if matches!(ext, ".co" | ".hsaco" | ".dat")
                && (dir_arch.is_some() || last_token_arch(stem).is_some())
            {
                let role = if ext == ".dat" {
                    LibraryRole::Catalog
                } else {
                    LibraryRole::CodeObject
                };
                return lib(LibraryKind::RocblasTensile, role, last_token_arch(stem));
            }
        }
    }
    miopen(name)
}

/// MIOpen database names: `<DbId><CU tag>.<ext>` (docs/code-objects.md). The processor is
/// the longest known processor name the file name starts with.
fn miopen(name: &str) -> Option<LibraryFile> {
    let roles = [
        (".HIP.fdb.txt", LibraryRole::FindDb),
        (".OpenCL.fdb.txt", LibraryRole::FindDb),
        (".ufdb.txt", LibraryRole::UserFindDb),
        (".fdb.txt", LibraryRole::FindDb),
        (".db.txt", LibraryRole::PerfDb),
        (".ukdb", LibraryRole::UserKernelDb),
        (".kdb", LibraryRole::KernelDb),
        (".udb", LibraryRole::UserPerfDb),
        (".db", LibraryRole::PerfDb),
    ];
    let (stem, role) = roles
        .iter()
        .find_map(|(ext, role)| Some((name.strip_suffix(ext)?, *role)))?;
    if !stem.starts_with("gfx") {
        return None;
    }
    let arch = rp_kb::kb()
        .targets()
        .iter()
        .filter(|t| stem.starts_with(t.name.as_str()))
        .max_by_key(|t| t.name.len())
        .map(|t| t.name.clone())?;
    Some(LibraryFile {
        library: LibraryKind::Miopen,
        role,
        arch: Some(arch),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(p: &str) -> Option<(String, String, Option<String>)> {
        classify(Path::new(p)).map(|l| (l.library.to_string(), l.role.to_string(), l.arch))
    }

    #[test]
    fn tensile_names() {
        let l = "/x/rocblas/library/";
        assert_eq!(
            c(&format!("{l}TensileLibrary_lazy_gfx1010.dat"))
                .unwrap()
                .2
                .as_deref(),
            Some("gfx1010")
        );
        assert_eq!(
            c(&format!("{l}Kernels.so-000-gfx90a-xnack-.hsaco"))
                .unwrap()
                .2
                .as_deref(),
            Some("gfx90a:xnack-")
        );
        assert_eq!(
            c(&format!("{l}TensileLibrary_Type_BB_HPA_Contraction_l_Ailk_Bjlk_Cijk_Dijk_fallback_gfx90a-xnack+.hsaco")).unwrap(),
            ("rocblas-tensile".into(), "code-object".into(), Some("gfx90a:xnack+".into()))
        );
        assert_eq!(
            c(&format!(
                "{l}TensileLibrary_Type_BB_HPA_Contraction_l_Ailk_Bjlk_Cijk_Dijk_fallback.dat"
            ))
            .unwrap(),
            ("rocblas-tensile".into(), "catalog".into(), None)
        );
        assert_eq!(
            c(&format!("{l}TensileLibrary.dat")).unwrap().1,
            "master-catalog"
        );
        assert_eq!(
            c(&format!("{l}gfx942/TensileLibrary_lazy_gfx942.dat"))
                .unwrap()
                .2
                .as_deref(),
            Some("gfx942")
        );
        assert_eq!(
            c("/h/library/TensileLiteLibrary_lazy_gfx942_Mapping.dat")
                .unwrap()
                .2
                .as_deref(),
            Some("gfx942")
        );
        assert_eq!(c("/h/library/extop_gfx90a.co").unwrap().0, "hipblaslt");
        assert_eq!(c("/x/include/rocblas.h"), None);
    }

    #[test]
    fn miopen_names() {
        assert_eq!(
            c("/db/gfx1030_36.kdb").unwrap().2.as_deref(),
            Some("gfx1030")
        );
        assert_eq!(
            c("/db/gfx90a68.HIP.fdb.txt").unwrap(),
            ("miopen".into(), "find-db".into(), Some("gfx90a".into()))
        );
        assert_eq!(c("/db/gfx90878.db").unwrap().2.as_deref(), Some("gfx908"));
        assert_eq!(
            c("/db/gfx1010_20.ukdb").unwrap().2.as_deref(),
            Some("gfx1010")
        );
        assert_eq!(c("/db/notes.db"), None);
    }
}
