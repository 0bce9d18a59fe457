//! The build recipes and their patches (data/build/).

/// The build recipes and their patches (`rocm-patch build`), as (path under the
/// knowledge base, content). A test checks this list against `data/build/`.
pub const RECIPE_FILES: &[(&str, &str)] = &[
    (
        "build/miopen-3.2.0.toml",
        include_str!("../data/build/miopen-3.2.0.toml"),
    ),
    (
        "build/miopen-develop.toml",
        include_str!("../data/build/miopen-develop.toml"),
    ),
    (
        "build/rocblas-6.2.2.toml",
        include_str!("../data/build/rocblas-6.2.2.toml"),
    ),
    (
        "build/rocsparse-6.2.2.toml",
        include_str!("../data/build/rocsparse-6.2.2.toml"),
    ),
    (
        "build/rocsparse-6.4.3.toml",
        include_str!("../data/build/rocsparse-6.4.3.toml"),
    ),
    (
        "build/rocrand-6.2.2.toml",
        include_str!("../data/build/rocrand-6.2.2.toml"),
    ),
    (
        "build/rocrand-6.4.3.toml",
        include_str!("../data/build/rocrand-6.4.3.toml"),
    ),
    (
        "build/rocsolver-6.2.2.toml",
        include_str!("../data/build/rocsolver-6.2.2.toml"),
    ),
    (
        "build/rocsolver-6.4.3.toml",
        include_str!("../data/build/rocsolver-6.4.3.toml"),
    ),
    (
        "build/pytorch-2.15.0.toml",
        include_str!("../data/build/pytorch-2.15.0.toml"),
    ),
    (
        "build/patches/miopen/3.2.0-bn-gfx101x.patch",
        include_str!("../data/build/patches/miopen/3.2.0-bn-gfx101x.patch"),
    ),
    (
        "build/patches/miopen/develop-bn-gfx101x.patch",
        include_str!("../data/build/patches/miopen/develop-bn-gfx101x.patch"),
    ),
    (
        "build/patches/miopen/3.2.0-seed-skip-find.patch",
        include_str!("../data/build/patches/miopen/3.2.0-seed-skip-find.patch"),
    ),
    (
        "build/patches/miopen/3.2.0-seed-noncoherent.patch",
        include_str!("../data/build/patches/miopen/3.2.0-seed-noncoherent.patch"),
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipe_files_list_every_file_under_data_build() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data");
        let mut on_disk: Vec<String> = Vec::new();
        let mut dirs = vec![root.join("build")];
        while let Some(d) = dirs.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    dirs.push(p);
                } else {
                    on_disk.push(p.strip_prefix(&root).unwrap().display().to_string());
                }
            }
        }
        on_disk.sort();
        let mut listed: Vec<String> = RECIPE_FILES.iter().map(|(n, _)| n.to_string()).collect();
        listed.sort();
        assert_eq!(listed, on_disk);
    }
}
