use super::*;

fn sets(text: &str, d: Dialect) -> Vec<String> {
    lex(text, d)
        .commands
        .iter()
        .flat_map(|c| {
            assignments(d, c).into_iter().map(move |a| {
                format!(
                    "{}-{} d{}{} {}={}",
                    c.first_line,
                    c.last_line,
                    c.depth,
                    if c.shares_line { " shared" } else { "" },
                    a.name,
                    a.value
                )
            })
        })
        .collect()
}

#[test]
fn sh_forms() {
    let t = "export HSA_OVERRIDE_GFX_VERSION=10.3.0 \\\n  HIP_VISIBLE_DEVICES=0\n\
             declare -x A=1 B=\"two words\"\n\
             typeset -gx C='x'\n\
             D=1 cmd\n\
             E=2\n\
             export -n F\n\
             echo \"export G=1\n export H=2\"\n\
             cat <<EOF\nexport I=1\nEOF\n\
             if true; then export J=1; fi\n\
             x=1; export K=2\n";
    assert_eq!(
        sets(t, Dialect::Sh),
        [
            "1-2 d0 HSA_OVERRIDE_GFX_VERSION=10.3.0",
            "1-2 d0 HIP_VISIBLE_DEVICES=0",
            "3-3 d0 A=1",
            "3-3 d0 B=two words",
            "4-4 d0 C=x",
            "6-6 d0 E=2",
            "13-13 d1 shared J=1",
            "14-14 d0 shared x=1",
            "14-14 d0 shared K=2",
        ]
    );
    let l = lex(t, Dialect::Sh);
    assert_eq!(l.heredoc_lines, [(11, "export I=1".to_string())]);
    assert!(l.problem.is_none());
}

#[test]
fn fish_forms() {
    let t = "set -gx HSA_OVERRIDE_GFX_VERSION 10.3.0\nset -Ux ROCR_VISIBLE_DEVICES 0 1\nset -e HIP_VISIBLE_DEVICES\nif status is-interactive\n  set -x A 1\nend\nset --export B \"a\\\n b\"\n";
    assert_eq!(
        sets(t, Dialect::Fish),
        [
            "1-1 d0 HSA_OVERRIDE_GFX_VERSION=10.3.0",
            "2-2 d0 ROCR_VISIBLE_DEVICES=0 1",
            "5-5 d1 A=1",
            "7-8 d0 B=a b",
        ]
    );
}

#[test]
fn removal_keeps_the_rest() {
    let m = "# M: ";
    let names = vec!["HSA_OVERRIDE_GFX_VERSION".to_string()];
    let t = "a\nexport HSA_OVERRIDE_GFX_VERSION=10.3.0 \\\n  PATH=/x\nb\n";
    let out = remove_assignments(t, Dialect::Sh, &[2], &names, m).unwrap();
    assert_eq!(
        out,
        "a\n# M: export HSA_OVERRIDE_GFX_VERSION=10.3.0 \\\n# M:   PATH=/x\nexport PATH=/x\nb\n"
    );
    let t = "  export A=1 HSA_OVERRIDE_GFX_VERSION=\"10.3.0\" B=2";
    let out = remove_assignments(t, Dialect::Sh, &[1], &names, m).unwrap();
    assert_eq!(
        out,
        "# M:   export A=1 HSA_OVERRIDE_GFX_VERSION=\"10.3.0\" B=2\n  export A=1 B=2\n"
    );
    let t = "x=1; export HSA_OVERRIDE_GFX_VERSION=1\n";
    assert!(remove_assignments(t, Dialect::Sh, &[1], &names, m).is_err());
    let t = "echo 'unterminated\nexport HSA_OVERRIDE_GFX_VERSION=1\n";
    assert!(remove_assignments(t, Dialect::Sh, &[2], &names, m).is_err());
}
