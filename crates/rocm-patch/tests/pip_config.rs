//! Which package indexes `pip install` uses, asked of real pip: for each layout of
//! configuration files and variables, pip 23.2.1 and pip 26.3 (installed from PyPI by
//! scripts/test.sh; `RP_PIP_PYTHONS`) parse `pip install`'s options with their own code,
//! and `doctor`'s report must name the same `index-url` and `extra-index-url`s, or the
//! same refusal when pip cannot load a file.
#![cfg(feature = "real-data")]

mod common;
use common::*;
use rp_report::{DoctorReport, PipIndexKey, PythonEnv};
use std::path::Path;
use std::process::Command;

/// What pip's option parser gives `pip install` (pip's own code; `SystemExit` when a
/// configuration file cannot be loaded).
const ASK_PIP: &str = r#"
import json, sys
from pip._internal.commands import create_command
try:
    opts, _ = create_command("install").parse_args([])
    print(json.dumps({"index": opts.index_url, "extra": opts.extra_index_urls}))
except SystemExit:
    print(json.dumps({"refused": True}))
"#;

/// Cases where pip's versions differ: the newest one's rules are followed (pip 23.2.1's
/// platformdirs took a relative `XDG_CONFIG_HOME` relative to the working directory;
/// 26.3's ignores it, as the XDG base directory specification says).
const NEWEST_ONLY: &[&str] = &["a relative XDG_CONFIG_HOME is ignored"];

/// pip's default index.
const PYPI: &str = "https://pypi.org/simple";

/// What `pip install` would use: `Err(())` when pip refuses to run.
type Answer = Result<(String, Vec<String>), ()>;

/// One layout: files (relative to the scratch directory; `$T` in a value is that
/// directory) and variables besides `HOME` and `XDG_CONFIG_DIRS=$T/xdg1:$T/xdg2`.
struct Case {
    name: &'static str,
    files: &'static [(&'static str, &'static str)],
    vars: &'static [(&'static str, &'static str)],
}

const CASES: &[Case] = &[
    Case {
        name: "no configuration",
        files: &[],
        vars: &[],
    },
    Case {
        name: "two XDG_CONFIG_DIRS directories: the later file wins",
        files: &[
            ("xdg1/pip/pip.conf", "[global]\nindex-url = http://xdg1.test/simple\n"),
            ("xdg2/pip/pip.conf", "[global]\nindex-url = http://xdg2.test/simple\n"),
        ],
        vars: &[],
    },
    Case {
        name: "[install] of a global file over [global] of the venv's",
        files: &[
            (
                "xdg1/pip/pip.conf",
                "[install]\nextra-index-url = http://global-install.test/\n",
            ),
            (
                "venv/pip.conf",
                "[global]\nextra-index-url = http://venv-global.test/\nindex-url = http://venv.test/simple\n",
            ),
        ],
        vars: &[],
    },
    Case {
        name: "the XDG user file over the legacy ~/.pip one",
        files: &[
            ("home/.pip/pip.conf", "[global]\nindex-url = http://legacy.test/simple\n"),
            ("home/.config/pip/pip.conf", "[global]\nindex-url = http://new.test/simple\n"),
        ],
        vars: &[],
    },
    Case {
        name: "XDG_CONFIG_HOME replaces ~/.config",
        files: &[
            ("home/.config/pip/pip.conf", "[global]\nindex-url = http://dot-config.test/simple\n"),
            ("cfg/pip/pip.conf", "[global]\nextra-index-url = http://cfg.test/\n"),
        ],
        vars: &[("XDG_CONFIG_HOME", "$T/cfg")],
    },
    Case {
        name: "a relative XDG_CONFIG_HOME is ignored",
        files: &[("home/.config/pip/pip.conf", "[global]\nindex-url = http://dot-config.test/simple\n")],
        vars: &[("XDG_CONFIG_HOME", "cfg")],
    },
    Case {
        name: "PIP_CONFIG_FILE that exists: user files skipped, it beats the venv's",
        files: &[
            ("home/.config/pip/pip.conf", "[install]\nextra-index-url = http://user.test/\n"),
            ("venv/pip.conf", "[global]\nindex-url = http://venv.test/simple\n"),
            ("env.conf", "[global]\nindex-url = http://envfile.test/simple\n"),
        ],
        vars: &[("PIP_CONFIG_FILE", "$T/env.conf")],
    },
    Case {
        name: "PIP_CONFIG_FILE that does not exist: user files still read",
        files: &[("home/.config/pip/pip.conf", "[install]\nextra-index-url = http://user.test/\n")],
        vars: &[("PIP_CONFIG_FILE", "$T/missing.conf")],
    },
    Case {
        name: "PIP_CONFIG_FILE=/dev/null: no file at all, variables still",
        files: &[
            ("xdg1/pip/pip.conf", "[global]\nindex-url = http://xdg1.test/simple\n"),
            ("venv/pip.conf", "[install]\nindex-url = http://venv.test/simple\n"),
        ],
        vars: &[
            ("PIP_CONFIG_FILE", "/dev/null"),
            ("PIP_EXTRA_INDEX_URL", "http://var.test/"),
        ],
    },
    Case {
        name: "variables over every file; a list variable split on whitespace",
        files: &[(
            "venv/pip.conf",
            "[install]\nindex-url = http://venv.test/simple\nextra-index-url = http://venv-extra.test/\n",
        )],
        vars: &[
            ("PIP_INDEX_URL", "http://var.test/simple"),
            ("PIP_EXTRA_INDEX_URL", "http://a.test/  http://b.test/"),
        ],
    },
    Case {
        name: "an empty value in a later file clears an earlier one",
        files: &[
            ("home/.config/pip/pip.conf", "[global]\nindex-url = http://user.test/simple\n"),
            ("venv/pip.conf", "[global]\nindex-url =\n"),
        ],
        vars: &[],
    },
    Case {
        name: "section names are case-sensitive; [DEFAULT] reaches the sections present",
        files: &[
            ("xdg1/pip/pip.conf", "[Global]\nindex-url = http://capital.test/simple\n"),
            (
                "venv/pip.conf",
                "[DEFAULT]\nextra-index-url = http://default.test/\n[install]\ntimeout = 5\n",
            ),
        ],
        vars: &[],
    },
    Case {
        name: "[DEFAULT] alone sets nothing",
        files: &[("venv/pip.conf", "[DEFAULT]\nindex-url = http://default.test/simple\n")],
        vars: &[],
    },
    Case {
        name: "continuation lines, blank lines, comments and key spellings",
        files: &[(
            "venv/pip.conf",
            "[global]\n# a comment\nExtra_Index_URL:\n    http://one.test/\n\n    ; between\n    http://two.test/\n  index-url = http://indented.test/simple\n  timeout = 5\n",
        )],
        vars: &[],
    },
    Case {
        name: "a # after a value is part of it",
        files: &[(
            "venv/pip.conf",
            "[global]\nextra-index-url = http://x.test/ # not a comment\n",
        )],
        vars: &[],
    },
    Case {
        name: "a repeated section: pip refuses",
        files: &[(
            "venv/pip.conf",
            "[global]\nindex-url = http://a.test/simple\n[global]\ntimeout = 3\n",
        )],
        vars: &[],
    },
    Case {
        name: "a line that is no setting: pip refuses",
        files: &[("home/.config/pip/pip.conf", "[global]\nindex-url = http://a.test/simple\ntrusted host a.test\n")],
        vars: &[],
    },
    Case {
        name: "a setting before any section: pip refuses",
        files: &[("xdg2/pip/pip.conf", "index-url = http://a.test/simple\n")],
        vars: &[],
    },
];

/// The variables set for both pip and rocm-patch.
fn vars(case: &Case, t: &Path) -> Vec<(String, String)> {
    let t = t.display().to_string();
    let mut v = vec![
        ("HOME".to_string(), format!("{t}/home")),
        ("XDG_CONFIG_DIRS".to_string(), format!("{t}/xdg1:{t}/xdg2")),
    ];
    v.extend(
        case.vars
            .iter()
            .map(|(k, val)| (k.to_string(), val.replace("$T", &t))),
    );
    v
}

/// The variables cleared for both: any the test runner has that pip would read.
fn cleared() -> Vec<String> {
    std::env::vars()
        .map(|(k, _)| k)
        .filter(|k| k.starts_with("PIP_") || k.starts_with("XDG_") || k == "PYTHONPATH")
        .collect()
}

/// pip's answer: the scratch venv's interpreter imports pip from `site` (the
/// site-packages of a venv with that pip), so that the venv's own `pip.conf` is the site
/// file.
fn ask_pip(site: &str, venv: &Path, t: &Path, case: &Case) -> Answer {
    let mut c = Command::new(venv.join("bin/python"));
    for k in cleared() {
        c.env_remove(k);
    }
    let o = c
        .args(["-c", ASK_PIP])
        .envs(vars(case, t))
        .env("PYTHONPATH", site)
        .current_dir(t)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap_or_else(|e| {
        panic!(
            "{}: pip printed {out:?} ({e}); stderr {}",
            case.name,
            String::from_utf8_lossy(&o.stderr)
        )
    });
    if v.get("refused").is_some() {
        return Err(());
    }
    let index = v["index"].as_str().unwrap().to_string();
    let extra = v["extra"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u.as_str().unwrap().to_string())
        .collect();
    Ok((index, extra))
}

/// rocm-patch's answer, from `doctor --json`'s environment.
fn ask_doctor(venv: &Path, t: &Path, case: &Case) -> (Answer, PythonEnv) {
    let mut c = cli();
    for k in cleared() {
        c = c.env_remove(k);
    }
    let o = c
        .envs(vars(case, t))
        .current_dir(t)
        .args(["doctor", "--json", "--python", venv.to_str().unwrap()])
        .run();
    let r: DoctorReport = o.json();
    let env = r
        .python
        .into_iter()
        .find(|p| Path::new(&p.path) == venv)
        .unwrap_or_else(|| panic!("{}: doctor did not report {}", case.name, venv.display()));
    if !env.pip_config_errors.is_empty() {
        return (Err(()), env);
    }
    let urls = |key| -> Vec<String> {
        env.pip_indexes
            .iter()
            .filter(|p| p.key == key)
            .map(|p| p.url.clone())
            .collect()
    };
    let index = urls(PipIndexKey::IndexUrl);
    assert!(index.len() <= 1, "{}: {index:?}", case.name);
    let index = index.first().cloned().unwrap_or_else(|| PYPI.to_string());
    let extra = urls(PipIndexKey::ExtraIndexUrl);
    (Ok((index, extra)), env)
}

#[test]
fn doctor_resolves_pip_configuration_as_real_pip_does() {
    let pythons = std::env::var("RP_PIP_PYTHONS").unwrap_or_else(|_| {
        panic!("RP_PIP_PYTHONS is not set: run the tests through scripts/test.sh, which installs pip 23.2.1 and 26.3 from PyPI")
    });
    // The oldest and the newest pip: (python, its site-packages).
    let pythons: Vec<(&str, String)> = pythons
        .split(':')
        .map(|python| {
            let o = Command::new(python)
                .args([
                    "-c",
                    "import pip, os; print(os.path.dirname(os.path.dirname(pip.__file__)))",
                ])
                .output()
                .unwrap_or_else(|e| panic!("{python}: {e}"));
            (
                python,
                String::from_utf8(o.stdout).unwrap().trim().to_string(),
            )
        })
        .collect();
    assert_eq!(pythons.len(), 2, "{pythons:?}");
    let mut refusals = 0;
    for case in CASES {
        let d = tempfile::tempdir().unwrap();
        let t = d.path();
        let venv = t.join("venv");
        let made = Command::new("python3")
            .args(["-m", "venv", "--without-pip"])
            .arg(&venv)
            .status()
            .unwrap();
        assert!(made.success());
        std::fs::create_dir_all(t.join("home")).unwrap();
        for (rel, text) in case.files {
            let p = t.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, text).unwrap();
        }
        let (ours, env) = ask_doctor(&venv, t, case);
        let asked = if NEWEST_ONLY.contains(&case.name) {
            &pythons[1..]
        } else {
            &pythons[..]
        };
        for (python, site) in asked {
            let pips = ask_pip(site, &venv, t, case);
            assert_eq!(
                ours, pips,
                "{}: rocm-patch (left) and {} (right) disagree; doctor's settings: {:?} {:?}",
                case.name, python, env.pip_indexes, env.pip_config_errors
            );
        }
        if ours.is_err() {
            refusals += 1;
            // The refusal names the file and the line.
            let e = &env.pip_config_errors[0];
            assert!(
                e.contains(&t.display().to_string()) && e.contains("line "),
                "{e}"
            );
        }
    }
    assert_eq!(refusals, 3);
}
