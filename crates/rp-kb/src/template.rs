//! The one filler of knowledge-base texts: `{name}` placeholders (a lowercase
//! identifier in braces) replaced by values. Which placeholders a text may hold depends
//! on its kind ([`TextKind`]); a test walks every text of every data file and checks it.
//! Build recipes (data/build) have their own template language (`{{` escapes, every
//! name checked at load) in rp-build.

use std::fmt;

/// The kinds of knowledge-base text that hold placeholders, and the names each may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextKind {
    /// A finding's title, why and ref (findings.toml), filled by doctor.
    Finding,
    /// A remedy's texts (remedies.toml), filled by fix.
    Remedy,
    /// A cause's fix and steps (causes.toml), filled by explain and doctor.
    Cause,
    /// A stack's step command (runtime.toml), filled by [`crate::Stack::steps_for`].
    StackCommand,
    /// A stack's other texts (runtime.toml): notes, `requires`.
    Stack,
    /// A profile variable's value (profiles.toml), filled by rp-env.
    Profile,
    /// Every other text: no placeholders.
    Plain,
}

impl TextKind {
    /// The placeholders texts of this kind may hold.
    pub fn placeholders(self) -> &'static [&'static str] {
        match self {
            TextKind::Finding => &[
                "archs",
                "caveat",
                "code",
                "detail",
                "dir",
                "effect",
                "env",
                "file",
                "gpu",
                "gpu_name",
                "installed",
                "kernels",
                "lib",
                "libraries",
                "library_ref",
                "line",
                "looked",
                "name",
                "node",
                "package",
                "path",
                "reason",
                "summary",
                "timeout_ms",
                "torch_version",
                "user",
                "value",
                "var",
                "version",
                "wanted",
                "why",
            ],
            TextKind::Remedy => &["gpu", "user"],
            TextKind::Cause | TextKind::Stack => &["gpu"],
            TextKind::StackCommand => &["gpu", "therock_index"],
            TextKind::Profile => &["cache"],
            TextKind::Plain => &[],
        }
    }
}

/// A placeholder the filler was given no value for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownPlaceholder {
    /// The name in the braces.
    pub name: String,
    /// The text it is in.
    pub template: String,
}

impl fmt::Display for UnknownPlaceholder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown placeholder {{{}}} in {:?}",
            self.name, self.template
        )
    }
}

impl std::error::Error for UnknownPlaceholder {}

/// Each placeholder of `template`: its byte range (braces included) and name.
fn placeholders(template: &str) -> impl Iterator<Item = (std::ops::Range<usize>, &str)> {
    let b = template.as_bytes();
    let mut i = 0;
    std::iter::from_fn(move || {
        while i < b.len() {
            if b[i] == b'{' {
                let start = i;
                let mut j = i + 1;
                if j < b.len() && (b[j].is_ascii_lowercase() || b[j] == b'_') {
                    while j < b.len()
                        && (b[j].is_ascii_lowercase() || b[j].is_ascii_digit() || b[j] == b'_')
                    {
                        j += 1;
                    }
                    if j < b.len() && b[j] == b'}' {
                        i = j + 1;
                        return Some((start..j + 1, &template[start + 1..j]));
                    }
                }
            }
            i += 1;
        }
        None
    })
}

/// The names of the placeholders in `template`, in order.
pub fn placeholder_names(template: &str) -> Vec<&str> {
    placeholders(template).map(|(_, n)| n).collect()
}

/// Fill every `{name}` of `template` from `vars`; a placeholder `vars` has no value for
/// is an error.
pub fn try_fill(template: &str, vars: &[(&str, &str)]) -> Result<String, UnknownPlaceholder> {
    fill_with(template, vars, true)
}

/// Fill the `{name}` placeholders of `template` that `vars` has a value for; any other
/// is left as written (texts from user files may hold anything; the knowledge base's
/// are checked by this crate's tests, see [`check_text`]).
pub fn fill(template: &str, vars: &[(&str, &str)]) -> String {
    fill_with(template, vars, false).unwrap_or_else(|_| template.to_string())
}

fn fill_with(
    template: &str,
    vars: &[(&str, &str)],
    strict: bool,
) -> Result<String, UnknownPlaceholder> {
    let mut out = String::with_capacity(template.len());
    let mut at = 0;
    for (range, name) in placeholders(template) {
        match vars.iter().find(|(k, _)| *k == name) {
            Some((_, v)) => {
                out.push_str(&template[at..range.start]);
                out.push_str(v);
                at = range.end;
            }
            None if strict => {
                return Err(UnknownPlaceholder {
                    name: name.to_string(),
                    template: template.to_string(),
                })
            }
            None => {}
        }
    }
    out.push_str(&template[at..]);
    Ok(out)
}

/// Check that `template` holds only placeholders texts of `kind` may hold.
pub fn check_text(template: &str, kind: TextKind) -> Result<(), UnknownPlaceholder> {
    match placeholders(template).find(|(_, n)| !kind.placeholders().contains(n)) {
        Some((_, n)) => Err(UnknownPlaceholder {
            name: n.to_string(),
            template: template.to_string(),
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn fills_and_refuses() {
        let v = [("gpu", "gfx1010"), ("therock_index", "https://x/")];
        assert_eq!(
            try_fill("pip --index-url {therock_index} torch[device-{gpu}]", &v).unwrap(),
            "pip --index-url https://x/ torch[device-gfx1010]"
        );
        let e = try_fill("{gpu} {nope}", &v).unwrap_err();
        assert_eq!(e.name, "nope");
        assert_eq!(fill("{gpu} {nope}", &v), "gfx1010 {nope}");
        // Not placeholders: shell and TOML braces, upper case, empty.
        for t in [
            "${HOME}/x",
            "{ unset = true }",
            "{}",
            "{GPU}",
            "a{b",
            "{1x}",
        ] {
            assert_eq!(try_fill(t, &v).unwrap(), t);
        }
        // A value is not filled again.
        assert_eq!(fill("{a}{b}", &[("a", "{b}"), ("b", "x")]), "{b}x");
        assert_eq!(placeholder_names("{a} {b_2}}"), ["a", "b_2"]);
    }

    fn strings<'a>(v: &'a toml::Value, path: &mut Vec<String>, out: &mut Vec<(String, &'a str)>) {
        match v {
            toml::Value::String(s) => out.push((path.join("."), s)),
            toml::Value::Array(a) => {
                for x in a {
                    strings(x, path, out);
                }
            }
            toml::Value::Table(t) => {
                for (k, x) in t {
                    path.push(k.clone());
                    strings(x, path, out);
                    path.pop();
                }
            }
            _ => {}
        }
    }

    fn kind_of(file: &str, key: &str) -> TextKind {
        match file {
            "findings.toml" => TextKind::Finding,
            "remedies.toml" => TextKind::Remedy,
            "causes.toml" => TextKind::Cause,
            "runtime.toml" if key.contains("steps") && key.ends_with("command") => {
                TextKind::StackCommand
            }
            "runtime.toml" => TextKind::Stack,
            "profiles.toml" => TextKind::Profile,
            _ => TextKind::Plain,
        }
    }

    /// Every text of every knowledge-base data file (recipes aside: rp-build checks
    /// theirs at load) holds only placeholders its kind is filled with.
    #[test]
    fn every_kb_text_has_known_placeholders() {
        let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("data");
        let mut files = Vec::new();
        for dir in [data.clone(), data.join("catalogs")] {
            for e in std::fs::read_dir(&dir).unwrap() {
                let p = e.unwrap().path();
                if p.extension().is_some_and(|x| x == "toml") {
                    files.push(p);
                }
            }
        }
        files.sort();
        assert!(files.len() > 15, "{files:?}");
        let mut bad = Vec::new();
        let mut seen = 0;
        for f in &files {
            let name = f.file_name().unwrap().to_string_lossy().into_owned();
            let v: toml::Value = toml::from_str(&std::fs::read_to_string(f).unwrap())
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            let mut texts = Vec::new();
            strings(&v, &mut Vec::new(), &mut texts);
            for (key, t) in texts {
                seen += placeholder_names(t).len();
                if let Err(e) = check_text(t, kind_of(&name, &key)) {
                    bad.push(format!("{name}: {key}: {e}"));
                }
            }
        }
        assert!(seen > 50, "only {seen} placeholders found");
        assert!(bad.is_empty(), "{}", bad.join("\n"));
    }
}
