//! Which probes run: `--only`'s names, globs and groups (comma-separated lists too), and
//! the list of built-in probes.

use crate::ProbeError;
use rp_report::SCHEMA;

/// The probes `only` selects, in matrix order: each entry (comma-separated lists too) is
/// a group name, an exact name or a glob; empty selects all.
pub fn select(all: &[String], only: &[String]) -> Result<Vec<String>, ProbeError> {
    let kb = rp_kb::kb();
    select_matching(all, only, |w| {
        kb.probes()
            .iter()
            .any(|p| p.group == w)
            .then(|| Box::new(move |n: &str| kb.probe(n).is_some_and(|p| p.group == w)) as _)
    })
}

/// Names that `only` selects, in `all`'s order: each entry (comma-separated lists too)
/// is what `group` makes of it (a set of names), else an exact name or a glob; an entry
/// that selects nothing is an error naming the choices; empty selects all.
pub(crate) fn select_matching<'w>(
    all: &[String],
    only: &'w [String],
    group: impl Fn(&'w str) -> Option<Box<dyn Fn(&str) -> bool + 'w>>,
) -> Result<Vec<String>, ProbeError> {
    let wanted: Vec<&str> = only
        .iter()
        .flat_map(|o| split_list(o))
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .collect();
    if wanted.is_empty() {
        return Ok(all.to_vec());
    }
    let mut keep = vec![false; all.len()];
    for w in wanted {
        let hit: Box<dyn Fn(&str) -> bool> = match group(w) {
            Some(in_group) => in_group,
            None => {
                let m = globset::Glob::new(w)
                    .map_err(|e| ProbeError::BadGlob(w.to_string(), e.to_string()))?
                    .compile_matcher();
                Box::new(move |n: &str| m.is_match(n))
            }
        };
        let mut any = false;
        for (i, n) in all.iter().enumerate() {
            if hit(n) {
                keep[i] = true;
                any = true;
            }
        }
        if !any {
            return Err(ProbeError::NoMatch(w.to_string(), all.join(", ")));
        }
    }
    Ok(all
        .iter()
        .zip(keep)
        .filter(|(_, k)| *k)
        .map(|(n, _)| n.clone())
        .collect())
}

/// Split a comma-separated list, leaving commas inside a glob's `{a,b}` alone.
pub(crate) fn split_list(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0usize, 0);
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

/// Every built-in probe with its group and library path.
pub fn list() -> rp_report::ProbeList {
    rp_report::ProbeList {
        schema: SCHEMA,
        probes: rp_kb::kb()
            .probes()
            .iter()
            .map(|p| rp_report::ProbeInfo {
                name: p.name.clone(),
                group: p.group.clone(),
                exercises: p.exercises.clone(),
                remedy: p.remedy.clone(),
                reference: p.reference.clone(),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_takes_names_globs_groups_and_lists() {
        let all: Vec<String> = [
            "device_init",
            "conv2d_fwd_bwd",
            "lstm_fwd_bwd",
            "unet_block",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let sel = |o: &[&str]| select(&all, &o.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(sel(&[]).unwrap().len(), 4);
        assert_eq!(sel(&["conv*"]).unwrap(), ["conv2d_fwd_bwd"]);
        assert_eq!(sel(&["rdna1-known"]).unwrap(), ["lstm_fwd_bwd"]);
        assert_eq!(
            sel(&["workloads,device_init", "lstm*"]).unwrap(),
            ["device_init", "lstm_fwd_bwd", "unet_block"]
        );
        assert!(matches!(sel(&["nothing*"]), Err(ProbeError::NoMatch(..))));
        assert_eq!(
            sel(&["{lstm,unet}*"]).unwrap(),
            ["lstm_fwd_bwd", "unet_block"]
        );
    }
}
