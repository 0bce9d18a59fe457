//! Recipes: TOML data (`docs/build.md` documents every field), loaded, validated and
//! filled with variables.

mod validate;

use crate::BuildError;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

/// The variables a template may use.
pub const VARIABLES: [&str; 9] = [
    "gpu", "prefix", "jobs", "src", "build", "rocm", "cxx", "hipcc", "python",
];

/// A recipe, as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    /// Short name (`miopen`).
    pub name: String,
    /// Upstream version.
    pub version: String,
    /// One line.
    pub summary: String,
    /// The recipe `build NAME` picks among several of the same name.
    #[serde(default)]
    pub default: bool,
    /// Notes shown by `build --show`, each with a reference.
    #[serde(default, rename = "note")]
    pub notes: Vec<Note>,
    /// What a build costs.
    pub cost: Option<Cost>,
    /// The ROCm versions the recipe builds against.
    pub rocm: Option<RocmRange>,
    /// Where the source comes from.
    pub source: Source,
    /// `--with` options.
    #[serde(default, rename = "option")]
    pub options: Vec<OptionDef>,
    /// Tools needed on PATH.
    #[serde(default, rename = "tool")]
    pub tools: Vec<Tool>,
    /// Libraries needed (pkg-config or CMake config files).
    #[serde(default, rename = "library")]
    pub libraries: Vec<Library>,
    /// Installed libraries that must already carry code for `{gpu}`.
    #[serde(default, rename = "gpu_code")]
    pub gpu_code: Vec<GpuCode>,
    /// Patches, applied in order.
    #[serde(default, rename = "patch")]
    pub patches: Vec<Patch>,
    /// Steps, run in order.
    #[serde(rename = "step")]
    pub steps: Vec<StepDef>,
    /// What the install must produce.
    #[serde(default, rename = "output")]
    pub outputs: Vec<Output>,
}

/// A note with its reference.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Note {
    /// The text.
    pub text: String,
    /// The primary source.
    #[serde(rename = "ref")]
    pub reference: String,
}

/// What a build costs: CPU time and peak disk.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cost {
    /// Hours of CPU on one core.
    pub core_hours: f64,
    /// Peak disk (source, build tree, prefix, cached download), GiB; preflight checks
    /// the cache's file system has this much free.
    pub disk_gib: f64,
    /// How the figures were obtained.
    pub basis: String,
}

/// The ROCm (HIP) versions a recipe builds against; the reference says why.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RocmRange {
    /// Oldest (`6.3`).
    pub min: Option<String>,
    /// Newest major.minor (`6.2` matches 6.2.x).
    pub max: Option<String>,
    /// The primary source.
    #[serde(rename = "ref")]
    pub reference: String,
}

impl RocmRange {
    /// `6.3 or newer`, `6.2 only`, `6.0 to 6.2`.
    pub fn text(&self) -> String {
        match (&self.min, &self.max) {
            (Some(a), Some(b)) if a == b => format!("{a}.x only"),
            (Some(a), Some(b)) => format!("{a} to {b}.x"),
            (Some(a), None) => format!("{a} or newer"),
            (None, Some(b)) => format!("{b}.x or older"),
            (None, None) => "any".into(),
        }
    }
}

/// Where the source comes from: a tarball with its sha256, or a git commit.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// Tarball URL (`https://`, `http://` or `file://`).
    pub url: Option<String>,
    /// Other URLs serving the same bytes, tried in order when one cannot be fetched.
    #[serde(default)]
    pub mirrors: Vec<String>,
    /// The tarball's sha256.
    pub sha256: Option<String>,
    /// The tarball's size in bytes (Debian's Sources index lists it): a body longer
    /// than this is cut off and refused.
    #[serde(default)]
    pub size: Option<u64>,
    /// Git repository URL.
    pub git: Option<String>,
    /// The commit (40 hex digits).
    pub commit: Option<String>,
    /// The tag or branch the commit belongs to (information only).
    pub tag: Option<String>,
    /// The project's directory inside the repository or tarball (a monorepo).
    pub subdir: Option<String>,
    /// Leading directories a tarball's entries lose when unpacked (default 1).
    pub strip: Option<usize>,
    /// Check out git submodules too.
    #[serde(default)]
    pub submodules: bool,
}

/// A `--with` option.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptionDef {
    /// `seed-patches`.
    pub name: String,
    /// What it does.
    pub about: String,
}

/// Packages that provide something, per distribution.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Packages {
    /// Debian and Ubuntu.
    pub debian: Option<String>,
    /// Fedora.
    pub fedora: Option<String>,
    /// Arch Linux.
    pub arch: Option<String>,
}

impl Packages {
    /// `debian: cmake`, ...
    pub fn list(&self) -> Vec<String> {
        [
            ("debian", &self.debian),
            ("fedora", &self.fedora),
            ("arch", &self.arch),
        ]
        .iter()
        .filter_map(|(d, p)| p.as_ref().map(|p| format!("{d}: {p}")))
        .collect()
    }
}

/// A tool needed on PATH.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tool {
    /// The command name, or a path template (`{cxx}`: the compiler of the ROCm in use).
    pub name: String,
    /// Minimum version (`3.16`), read from `VERSION_ARGS` output.
    pub min: Option<String>,
    /// Arguments that print the version (default `--version`).
    pub version_args: Option<Vec<String>>,
    /// Only with this `--with` option.
    pub with: Option<String>,
    /// Providing packages.
    #[serde(default)]
    pub packages: Packages,
}

/// A library found with pkg-config or a CMake config file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Library {
    /// Display name.
    pub name: String,
    /// The pkg-config module (`sqlite3`).
    pub pkg_config: Option<String>,
    /// The CMake package (`rocblas`): `<name>-config.cmake` or `<Name>Config.cmake`.
    pub cmake: Option<String>,
    /// A header (`bzlib.h`), looked for as CMake's `find_path` does: alone, or when the
    /// pkg-config file is missing (a library that ships none).
    pub header: Option<String>,
    /// The library's name (`bz2`: `libbz2.so` or `libbz2.a`), looked for with `header`
    /// as CMake's `find_library` does.
    pub lib: Option<String>,
    /// Minimum version (pkg-config only).
    pub min: Option<String>,
    /// Only with this `--with` option.
    pub with: Option<String>,
    /// Providing packages.
    #[serde(default)]
    pub packages: Packages,
}

/// An installed library that must carry code for `{gpu}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GpuCode {
    /// Display name (`rocBLAS`).
    pub name: String,
    /// The file name (`librocblas.so`).
    pub library: String,
    /// Directories searched, templates (`{rocm}/lib`).
    pub dirs: Vec<String>,
    /// A Tensile library directory next to it that must hold `{gpu}` (`rocblas/library`).
    pub tensile: Option<String>,
    /// Providing packages.
    #[serde(default)]
    pub packages: Packages,
}

/// A patch, a file next to the recipe.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Patch {
    /// Path relative to the recipe's directory.
    pub file: String,
    /// What it fixes.
    pub fixes: String,
    /// Primary source for the problem.
    #[serde(rename = "ref")]
    pub reference: String,
    /// Only with this `--with` option.
    pub with: Option<String>,
    /// Every upstream file it touches, with the file's sha256 before patching.
    pub upstream: BTreeMap<String, String>,
}

/// A step.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepDef {
    /// `configure`, `build`, `install`.
    pub name: String,
    /// The command and its arguments (templates).
    pub run: Vec<String>,
    /// Variables set for it (templates).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Working directory (template; default `{build}`).
    pub cwd: Option<String>,
    /// Files the step makes: a finished step is skipped only while they exist.
    #[serde(default)]
    pub creates: Vec<String>,
    /// Arguments added with a `--with` option: `{ option = [args] }`.
    #[serde(default)]
    pub with_args: BTreeMap<String, Vec<String>>,
}

/// An expected output under the prefix.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Output {
    /// Path under `{prefix}` (template).
    pub path: String,
    /// `code` (must carry code for `{gpu}`), `tensile` (a Tensile directory holding
    /// `{gpu}`), `exists`.
    pub check: String,
    /// Installed by `--deploy-into`.
    #[serde(default)]
    pub deploy: bool,
    /// Its name in the deploy tree (default: the file name).
    pub deploy_as: Option<String>,
    /// Only with this `--with` option.
    pub with: Option<String>,
    /// Why (shown by --show).
    pub why: Option<String>,
}

impl Output {
    /// `check` as the report's vocabulary (a loaded recipe's is one of them: `load`
    /// refuses any other).
    pub fn check_kind(&self) -> rp_report::OutputCheck {
        self.check.parse().unwrap_or_default()
    }
}

/// Where a recipe came from, and how to read its patches.
#[derive(Debug, Clone)]
pub enum Origin {
    /// Embedded in the binary, at this path under the knowledge base.
    BuiltIn(String),
    /// A file.
    File(PathBuf),
}

/// A loaded, validated recipe.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The recipe.
    pub recipe: Recipe,
    /// Where it came from.
    pub origin: Origin,
}

impl Loaded {
    /// `name@version`.
    pub fn id(&self) -> String {
        format!("{}@{}", self.recipe.name, self.recipe.version)
    }

    /// Where it came from, for reports.
    pub fn origin_text(&self) -> String {
        match &self.origin {
            Origin::BuiltIn(p) => format!("built-in ({p})"),
            Origin::File(p) => p.display().to_string(),
        }
    }

    /// The bytes of a patch (bounded: 4 MiB).
    pub fn patch_bytes(&self, file: &str) -> Result<Vec<u8>, BuildError> {
        match &self.origin {
            Origin::BuiltIn(p) => {
                let dir = Path::new(p).parent().unwrap_or(Path::new(""));
                let want = dir.join(file);
                rp_kb::RECIPE_FILES
                    .iter()
                    .find(|(n, _)| Path::new(n) == want)
                    .map(|(_, b)| b.as_bytes().to_vec())
                    .ok_or_else(|| {
                        BuildError::Recipe(format!(
                            "{p}: patch {file} is not in the knowledge base"
                        ))
                    })
            }
            Origin::File(p) => {
                let path = p.parent().unwrap_or(Path::new(".")).join(file);
                crate::read_bounded(&path, 4 << 20)
            }
        }
    }
}

/// Parse and validate a recipe's text; `name` is for messages.
pub fn parse(name: &str, text: &str) -> Result<Recipe, BuildError> {
    let r: Recipe = toml::from_str(text).map_err(|e| BuildError::Recipe(format!("{name}: {e}")))?;
    validate::validate(name, &r)?;
    Ok(r)
}

/// A path that stays inside its tree.
pub fn relative(p: &str) -> Result<(), String> {
    let path = Path::new(p);
    if p.is_empty() || path.is_absolute() {
        return Err(format!("{p:?} must be a relative path"));
    }
    if path
        .components()
        .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(format!("{p:?} must stay inside its tree (no ..)"));
    }
    Ok(())
}

/// Every `{name}` is a known variable; `{{` and `}}` are literal braces.
pub fn check_template(t: &str) -> Result<(), String> {
    fill(t, &|_| Some(String::new())).map(|_| ())
}

/// Fill a template: `{name}` from `var`, `{{`/`}}` literal.
pub fn fill(t: &str, var: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(t.len());
    let mut rest = t;
    while let Some(i) = rest.find(['{', '}']) {
        out.push_str(&rest[..i]);
        let r = &rest[i..];
        if r.starts_with("{{") || r.starts_with("}}") {
            out.push(r.as_bytes()[0] as char);
            rest = &r[2..];
            continue;
        }
        if r.starts_with('}') {
            return Err(format!("unmatched }} in {t:?}"));
        }
        let Some(end) = r.find('}') else {
            return Err(format!("unclosed {{ in {t:?}"));
        };
        let name = &r[1..end];
        if !VARIABLES.contains(&name) {
            return Err(format!(
                "unknown variable {{{name}}} in {t:?} (known: {})",
                VARIABLES.map(|v| format!("{{{v}}}")).join(" ")
            ));
        }
        match var(name) {
            Some(v) => out.push_str(&v),
            None => return Err(format!("variable {{{name}}} has no value")),
        }
        rest = &r[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The files a unified diff touches (`+++ b/PATH` and `--- a/PATH`, `-p1`). Lines
/// inside a hunk (counted from its `@@ -a,b +c,d @@` header) are content, not headers.
pub fn touched_files(patch: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let (mut old_left, mut new_left) = (0u64, 0u64);
    for line in patch.lines() {
        if old_left > 0 || new_left > 0 {
            match line.as_bytes().first() {
                Some(b'-') => old_left = old_left.saturating_sub(1),
                Some(b'+') => new_left = new_left.saturating_sub(1),
                Some(b'\\') => {}
                _ => {
                    old_left = old_left.saturating_sub(1);
                    new_left = new_left.saturating_sub(1);
                }
            }
            continue;
        }
        if let Some(h) = line.strip_prefix("@@ ") {
            let count = |spec: Option<&str>| -> u64 {
                spec.map(|s| s.split_once(',').map(|(_, n)| n).unwrap_or("1"))
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0)
            };
            let mut parts = h.split_whitespace();
            old_left = count(parts.next().and_then(|p| p.strip_prefix('-')));
            new_left = count(parts.next().and_then(|p| p.strip_prefix('+')));
            continue;
        }
        for prefix in ["--- ", "+++ "] {
            if let Some(p) = line.strip_prefix(prefix) {
                let p = p.split('\t').next().unwrap_or("").trim_end();
                if p == "/dev/null" {
                    continue;
                }
                let p = p.split_once('/').map(|(_, r)| r).unwrap_or(p);
                if !out.iter().any(|o| o == p) {
                    out.push(p.to_string());
                }
            }
        }
    }
    out
}

/// The built-in recipes, parsed (a broken one is a bug, caught by the tests).
pub fn builtin() -> Vec<Result<Loaded, BuildError>> {
    rp_kb::RECIPE_FILES
        .iter()
        .filter(|(n, _)| n.ends_with(".toml"))
        .map(|(n, text)| {
            parse(n, text).map(|recipe| Loaded {
                recipe,
                origin: Origin::BuiltIn((*n).to_string()),
            })
        })
        .collect()
}

/// `miopen` (the default of that name), `miopen@3.2.0`, or a path to a recipe file.
pub fn load(spec: &str) -> Result<Loaded, BuildError> {
    let looks_like_path = spec.contains('/') || spec.ends_with(".toml");
    if looks_like_path {
        let path = PathBuf::from(spec);
        let bytes = crate::read_bounded(&path, 1 << 20)?;
        let text = String::from_utf8(bytes)
            .map_err(|_| BuildError::Recipe(format!("{spec}: not UTF-8")))?;
        let recipe = parse(spec, &text)?;
        let loaded = Loaded {
            recipe,
            origin: Origin::File(path),
        };
        check_patch_lists(&loaded)?;
        return Ok(loaded);
    }
    let (name, version) = match spec.split_once('@') {
        Some((n, v)) => (n, Some(v)),
        None => (spec, None),
    };
    let all: Vec<Loaded> = builtin().into_iter().collect::<Result<_, _>>()?;
    let same: Vec<&Loaded> = all.iter().filter(|l| l.recipe.name == name).collect();
    let pick = match version {
        Some(v) => same.iter().find(|l| l.recipe.version == v),
        None if same.len() == 1 => same.first(),
        None => same.iter().find(|l| l.recipe.default),
    };
    match pick {
        Some(l) => Ok((*l).clone()),
        None if same.is_empty() => Err(BuildError::Recipe(format!(
            "no recipe {spec:?}; built-in: {} (or give a path to a recipe file)",
            all.iter().map(Loaded::id).collect::<Vec<_>>().join(", ")
        ))),
        None => Err(BuildError::Recipe(format!(
            "no recipe {spec:?}; versions of {name}: {}",
            same.iter().map(|l| l.id()).collect::<Vec<_>>().join(", ")
        ))),
    }
}

/// Every file a patch touches is listed with its sha256, and nothing else.
pub fn check_patch_lists(l: &Loaded) -> Result<(), BuildError> {
    for p in &l.recipe.patches {
        let bytes = l.patch_bytes(&p.file)?;
        let text = String::from_utf8_lossy(&bytes);
        let touched = touched_files(&text);
        if touched.is_empty() {
            return Err(BuildError::Recipe(format!(
                "{}: patch {} touches no file (not a unified diff?)",
                l.origin_text(),
                p.file
            )));
        }
        for t in &touched {
            if !p.upstream.contains_key(t) {
                return Err(BuildError::Recipe(format!(
                    "{}: patch {} touches {t}, which its upstream list lacks (every touched file needs its sha256)",
                    l.origin_text(),
                    p.file
                )));
            }
        }
        for u in p.upstream.keys() {
            if !touched.contains(u) {
                return Err(BuildError::Recipe(format!(
                    "{}: patch {} lists upstream {u}, which it does not touch",
                    l.origin_text(),
                    p.file
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_templates() {
        let v = |n: &str| (n == "gpu").then(|| "gfx1010".to_string());
        assert_eq!(
            fill("-DGPU_TARGETS={gpu}", &v).unwrap(),
            "-DGPU_TARGETS=gfx1010"
        );
        assert_eq!(fill("a{{b}}c", &v).unwrap(), "a{b}c");
        assert!(fill("{nope}", &v)
            .unwrap_err()
            .contains("unknown variable {nope}"));
        assert!(fill("{gpu", &v).is_err());
        assert!(fill("x}", &v).is_err());
        assert!(fill("{prefix}", &v).unwrap_err().contains("no value"));
    }

    #[test]
    fn touched_files_of_a_diff() {
        let d = "diff --git a/src/x.h b/src/x.h\n--- a/src/x.h\n+++ b/src/x.h\n@@ -1,2 +1,2 @@\n--- not a header\n+++ nor this\n keep\n--- /dev/null\n+++ b/new.txt\n@@ -0,0 +1 @@\n+z\n";
        assert_eq!(touched_files(d), ["src/x.h", "new.txt"]);
    }

    #[test]
    fn builtin_recipes_parse_and_their_patches_are_listed() {
        let all = builtin();
        assert!(all.len() >= 7, "{}", all.len());
        assert_eq!(load("miopen").unwrap().recipe.version, "3.2.0");
        for l in all {
            let l = l.unwrap();
            check_patch_lists(&l).unwrap();
            for n in &l.recipe.notes {
                assert!(!n.reference.is_empty(), "{}: note without ref", l.id());
            }
            for p in &l.recipe.patches {
                assert!(!p.reference.is_empty() && !p.fixes.is_empty());
            }
        }
        // One default per name.
        for name in [
            "miopen",
            "rocblas",
            "rocsparse",
            "rocrand",
            "rocsolver",
            "pytorch",
        ] {
            assert!(load(name).is_ok(), "{name}");
        }
        assert_eq!(load("miopen@3.2.0").unwrap().recipe.version, "3.2.0");
        assert!(load("nope").unwrap_err().to_string().contains("built-in"));
    }

    #[test]
    fn refuses_unpinned_sources_and_unknown_variables() {
        let base = r#"name = "x"
version = "1"
summary = "s"
[source]
url = "http://h/x.tgz"
SHA
[[step]]
name = "build"
run = ["make", "RUN"]
"#;
        let t = |sha: &str, run: &str| parse("t", &base.replace("SHA", sha).replace("RUN", run));
        assert!(t(&format!("sha256 = \"{}\"", "a".repeat(64)), "{jobs}").is_ok());
        assert!(t("", "x").unwrap_err().to_string().contains("pins"));
        assert!(t("sha256 = \"abc\"", "x")
            .unwrap_err()
            .to_string()
            .contains("64 hex"));
        let e = t(&format!("sha256 = \"{}\"", "a".repeat(64)), "{home}").unwrap_err();
        assert!(e.to_string().contains("unknown variable {home}"), "{e}");
    }
}
