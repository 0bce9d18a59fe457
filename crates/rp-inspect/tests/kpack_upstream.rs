//! The resolver against AMD's own kpack loader: `fixtures/kpack/upstream-loader-results.txt`
//! holds what the runtime loader (rocm-systems `shared/kpack/runtime/src/loader.cpp`, the
//! d65ebdaa version and the one with PR #9953's search loop) returned for each library,
//! translation unit and architecture of the fixtures that AMD's splitter made
//! (fixtures/kpack/SOURCES.md). Each case is answered here from the same files and
//! compared: found or not, and the size of the code object found.

use rp_inspect::{inspect, unit_load, KpackEnv, Options, UnitLoad};
use std::path::{Path, PathBuf};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/kpack")
}

struct Case {
    new_loader: bool,
    title: String,
    env: Vec<(String, String)>,
    lib: PathBuf,
    unit: u64,
    archs: Vec<String>,
    result: u32,
    size: u64,
}

fn cases() -> Vec<Case> {
    let fix = fixtures();
    let fixs = fix.display().to_string();
    let text = std::fs::read_to_string(fix.join("upstream-loader-results.txt")).unwrap();
    let mut out = Vec::new();
    let mut lines = text.lines().peekable();
    while let Some(l) = lines.next() {
        let Some(head) = l.strip_prefix("### ") else {
            continue;
        };
        let new_loader = head.starts_with("[new]");
        let cmd = lines
            .next()
            .unwrap()
            .trim()
            .strip_prefix("cmd:")
            .unwrap()
            .trim()
            .to_string();
        let res = lines.next().unwrap().trim().to_string();
        let mut env = Vec::new();
        let mut words: Vec<String> = cmd
            .split_whitespace()
            .map(|w| w.replace("$FIX", &fixs))
            .collect();
        while words[0].contains('=') && !words[0].starts_with('/') {
            let (k, v) = words[0].split_once('=').unwrap();
            env.push((k.to_string(), v.to_string()));
            words.remove(0);
        }
        let lib = PathBuf::from(&words[0]);
        let unit: u64 = words[1].parse().unwrap();
        let archs = words[2..]
            .iter()
            .map(|a| a.trim_start_matches("amdgcn-amd-amdhsa--").to_string())
            .collect();
        let result: u32 = res
            .split_whitespace()
            .next()
            .unwrap()
            .strip_prefix("result=")
            .unwrap()
            .parse()
            .unwrap();
        let size: u64 = res
            .split_whitespace()
            .nth(1)
            .unwrap()
            .strip_prefix("size=")
            .unwrap()
            .parse()
            .unwrap();
        out.push(Case {
            new_loader,
            title: head.to_string(),
            env,
            lib,
            unit,
            archs,
            result,
            size,
        });
    }
    out
}

#[test]
fn every_case_of_amds_loader_is_answered_alike() {
    let cases = cases();
    assert!(cases.len() >= 40, "{} cases", cases.len());
    let mut checked = 0;
    for c in &cases {
        let env =
            KpackEnv::from_vars(|k| c.env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()));
        let rep = inspect(
            std::slice::from_ref(&c.lib),
            &Options {
                kpack_env: env,
                ..Options::default()
            },
        );
        let f = rep
            .files
            .iter()
            .find(|f| Path::new(&f.path) == c.lib)
            .unwrap_or_else(|| panic!("{}: not reported", c.title));
        assert!(f.error.is_none(), "{}: {:?}", c.title, f.error);
        let load = unit_load(f, &c.archs, c.unit).expect("a kpack'd library");
        let (found, size) = match &load {
            UnitLoad::Found {
                archive,
                arch,
                old_loader_fails,
            } => {
                let k = f.kpack_ref.as_ref().unwrap();
                let key = format!("{}#{}", k.kernel_name, c.unit);
                let co = f
                    .code_objects
                    .iter()
                    .find(|co| {
                        co.archive.as_deref() == Some(archive.as_str())
                            && co.kpack_arch.as_deref() == Some(arch.as_str())
                            && co.binary.as_deref() == Some(key.as_str())
                    })
                    .unwrap();
                if c.new_loader {
                    (true, co.size)
                } else {
                    (
                        !old_loader_fails,
                        if *old_loader_fails { 0 } else { co.size },
                    )
                }
            }
            _ => (false, 0),
        };
        assert_eq!(
            found,
            c.result == 0,
            "{}: we say {load:?}, AMD's loader returned {}",
            c.title,
            c.result
        );
        assert_eq!(size, c.size, "{}: size", c.title);
        match (c.result, &load) {
            (8, UnitLoad::Disabled)
            | (13, UnitLoad::NoArchive)
            | (5, UnitLoad::KernelMissing { .. })
            | (0, _) => {}
            (14, UnitLoad::NoArchive) => {}
            (5, UnitLoad::Found { .. }) if !c.new_loader => {}
            (r, l) => panic!("{}: loader error {r}, we say {l:?}", c.title),
        }
        checked += 1;
    }
    assert_eq!(checked, cases.len());
}
