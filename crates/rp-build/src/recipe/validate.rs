//! Checking a parsed recipe: the first problem, named by the recipe's file, is the error.

use super::{
    check_template, relative, Cost, GpuCode, Library, Output, Patch, Recipe, RocmRange, Source,
    StepDef, Tool,
};
use crate::BuildError;

fn is_hex(s: &str, n: usize) -> bool {
    s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Check a parsed recipe, in order: its name and version, what pins the source, the
/// tools, mirrors, cost, ROCm range, libraries, patches, steps, outputs and GPU code.
/// The first problem is the error.
pub(super) fn validate(name: &str, r: &Recipe) -> Result<(), BuildError> {
    let c = Checker {
        name,
        options: r.options.iter().map(|o| o.name.as_str()).collect(),
    };
    c.name_and_version(r)?;
    c.source(&r.source)?;
    c.tools(&r.tools)?;
    c.mirrors(&r.source)?;
    c.cost(r.cost.as_ref())?;
    c.rocm(r.rocm.as_ref())?;
    c.libraries(&r.libraries)?;
    c.patches(&r.patches)?;
    c.steps(&r.steps)?;
    c.outputs(&r.outputs)?;
    c.gpu_code(&r.gpu_code)
}

/// Validates one recipe: its file name (for errors) and the options it defines.
struct Checker<'a> {
    name: &'a str,
    options: Vec<&'a str>,
}

impl Checker<'_> {
    /// A problem with the recipe, named by its file.
    fn bad<T>(&self, m: String) -> Result<T, BuildError> {
        Err(BuildError::Recipe(format!("{}: {m}", self.name)))
    }

    /// `what`'s `with` names an option the recipe defines.
    fn with(&self, w: &Option<String>, what: &str) -> Result<(), BuildError> {
        match w {
            Some(w) if !self.options.contains(&w.as_str()) => self.bad(format!(
                "{what} needs option {w:?}, which the recipe does not define"
            )),
            _ => Ok(()),
        }
    }

    fn name_and_version(&self, r: &Recipe) -> Result<(), BuildError> {
        if r.name.is_empty()
            || !r
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return self.bad(format!("name {:?} must be letters, digits, - or _", r.name));
        }
        if r.version.is_empty() || r.version.contains(['/', '\0']) || r.version.starts_with('.') {
            return self.bad(format!("version {:?} is not a version", r.version));
        }
        Ok(())
    }

    /// The source is pinned: a tarball's sha256 or a git commit.
    fn source(&self, s: &Source) -> Result<(), BuildError> {
        match (&s.url, &s.sha256, &s.git, &s.commit) {
            (Some(_), Some(h), None, None) if is_hex(h, 64) => {}
            (Some(_), Some(h), None, None) => {
                return self.bad(format!("source.sha256 {h:?} is not 64 hex digits"))
            }
            (None, None, Some(_), Some(c)) if is_hex(c, 40) => {}
            (None, None, Some(_), Some(c)) => {
                return self.bad(format!("source.commit {c:?} is not 40 hex digits"))
            }
            _ => {
                return self.bad(
                    "source needs either url and sha256, or git and commit (nothing else pins it)"
                        .into(),
                )
            }
        }
        if s.strip.is_some() && s.url.is_none() {
            return self.bad("source.strip applies to a tarball (url) only".into());
        }
        if let Some(sd) = &s.subdir {
            relative(sd).or_else(|e| self.bad(format!("source.subdir: {e}")))?;
        }
        Ok(())
    }

    fn tools(&self, tools: &[Tool]) -> Result<(), BuildError> {
        for t in tools {
            self.with(&t.with, &format!("tool {}", t.name))?;
            check_template(&t.name).or_else(|e| self.bad(format!("tool {}: {e}", t.name)))?;
        }
        Ok(())
    }

    fn mirrors(&self, s: &Source) -> Result<(), BuildError> {
        if !s.mirrors.is_empty() && s.url.is_none() {
            return self.bad("source.mirrors apply to a tarball (url) only".into());
        }
        Ok(())
    }

    fn cost(&self, cost: Option<&Cost>) -> Result<(), BuildError> {
        if let Some(c) = cost {
            if !(c.core_hours.is_finite()
                && c.core_hours > 0.0
                && c.disk_gib.is_finite()
                && c.disk_gib > 0.0)
            {
                return self
                    .bad("cost.core_hours and cost.disk_gib must be positive numbers".into());
            }
        }
        Ok(())
    }

    fn rocm(&self, rocm: Option<&RocmRange>) -> Result<(), BuildError> {
        if let Some(v) = rocm {
            for x in v.min.iter().chain(v.max.iter()) {
                if crate::preflight::first_version(x).as_deref() != Some(x.as_str()) {
                    return self.bad(format!("rocm: {x:?} is not a dotted version (6.3)"));
                }
            }
        }
        Ok(())
    }

    /// Each library is found one way: pkg-config or CMake, or a header (with a lib).
    fn libraries(&self, libraries: &[Library]) -> Result<(), BuildError> {
        for l in libraries {
            self.with(&l.with, &format!("library {}", l.name))?;
            if l.pkg_config.is_some() && l.cmake.is_some()
                || l.pkg_config.is_none() && l.cmake.is_none() && l.header.is_none()
            {
                return self.bad(format!(
                    "library {} needs exactly one of pkg_config and cmake, or a header",
                    l.name
                ));
            }
            if l.cmake.is_some() && (l.header.is_some() || l.lib.is_some())
                || l.lib.is_some() && l.header.is_none()
            {
                return self.bad(format!(
                    "library {}: header and lib go together, with pkg_config or alone",
                    l.name
                ));
            }
        }
        Ok(())
    }

    /// Each patch lies in the recipe's tree and records the sha256 of every upstream
    /// file it touches.
    fn patches(&self, patches: &[Patch]) -> Result<(), BuildError> {
        for p in patches {
            self.with(&p.with, &format!("patch {}", p.file))?;
            relative(&p.file).or_else(|e| self.bad(format!("patch {}: {e}", p.file)))?;
            if p.upstream.is_empty() {
                return self.bad(format!("patch {} lists no upstream file", p.file));
            }
            for (f, h) in &p.upstream {
                relative(f)
                    .or_else(|e| self.bad(format!("patch {}: upstream {f}: {e}", p.file)))?;
                if !is_hex(h, 64) {
                    return self.bad(format!(
                        "patch {}: sha256 of {f} is not 64 hex digits",
                        p.file
                    ));
                }
            }
        }
        Ok(())
    }

    /// At least one step; names unique, letters, digits or -; each runs something and
    /// every template fills.
    fn steps(&self, steps: &[StepDef]) -> Result<(), BuildError> {
        if steps.is_empty() {
            return self.bad("no steps".into());
        }
        let mut names = std::collections::BTreeSet::new();
        for st in steps {
            if !names.insert(st.name.as_str()) {
                return self.bad(format!("two steps named {}", st.name));
            }
            if st.name.is_empty()
                || !st
                    .name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            {
                return self.bad(format!(
                    "step name {:?} must be letters, digits or -",
                    st.name
                ));
            }
            if st.run.is_empty() {
                return self.bad(format!("step {} runs nothing", st.name));
            }
            let mut templates: Vec<&String> = st.run.iter().chain(st.env.values()).collect();
            templates.extend(st.cwd.iter());
            templates.extend(st.creates.iter());
            for (o, args) in &st.with_args {
                self.with(&Some(o.clone()), &format!("step {}", st.name))?;
                templates.extend(args.iter());
            }
            for t in templates {
                check_template(t).or_else(|e| self.bad(format!("step {}: {e}", st.name)))?;
            }
        }
        Ok(())
    }

    fn outputs(&self, outputs: &[Output]) -> Result<(), BuildError> {
        for o in outputs {
            check_template(&o.path).or_else(|e| self.bad(format!("output {}: {e}", o.path)))?;
            if o.check.parse::<rp_report::OutputCheck>().is_err() {
                return self.bad(format!(
                    "output {}: check {:?} is not code, tensile or exists",
                    o.path, o.check
                ));
            }
            self.with(&o.with, &format!("output {}", o.path))?;
            if let Some(a) = &o.deploy_as {
                relative(a).or_else(|e| self.bad(format!("output {}: deploy_as: {e}", o.path)))?;
            }
        }
        Ok(())
    }

    fn gpu_code(&self, gpu_code: &[GpuCode]) -> Result<(), BuildError> {
        for g in gpu_code {
            for d in &g.dirs {
                check_template(d).or_else(|e| self.bad(format!("gpu_code {}: {e}", g.name)))?;
            }
        }
        Ok(())
    }
}
