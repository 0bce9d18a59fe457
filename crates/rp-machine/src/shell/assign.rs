//! Which variables a command sets (bash(1) SHELL BUILTIN COMMANDS: `export`,
//! `declare`/`typeset`; fish-doc `set`).

use super::{Assignment, Command, Dialect, Word};

/// Variables set by a command: `NAME=V …` with no command word, `export`, `declare`,
/// `typeset`, `readonly` (sh), or `set` (fish) without `-e`/`-q`/`-n`/`-S`.
pub fn assignments(d: Dialect, c: &Command) -> Vec<Assignment> {
    let w = &c.words;
    let Some(first) = w.first() else {
        return Vec::new();
    };
    match d {
        Dialect::Fish => {
            if first.value != "set" {
                return Vec::new();
            }
            let mut i = 1;
            while i < w.len() && w[i].value.starts_with('-') {
                let o = w[i].value.as_str();
                let erase = match o.strip_prefix("--") {
                    Some(long) => matches!(long, "erase" | "query" | "names" | "show"),
                    None => o[1..].chars().any(|ch| matches!(ch, 'e' | 'q' | 'n' | 'S')),
                };
                if erase {
                    return Vec::new();
                }
                i += 1;
            }
            match w.get(i) {
                Some(n) if valid_name(&n.value) => vec![Assignment {
                    name: n.value.clone(),
                    value: w[i + 1..]
                        .iter()
                        .map(|x| x.value.as_str())
                        .collect::<Vec<_>>()
                        .join(" "),
                    word: i,
                }],
                _ => Vec::new(),
            }
        }
        Dialect::Sh | Dialect::Plain => {
            let declaring = matches!(
                first.value.as_str(),
                "export" | "declare" | "typeset" | "readonly"
            );
            let start = usize::from(declaring);
            let mut out = Vec::new();
            for (i, word) in w.iter().enumerate().skip(start) {
                if declaring && (word.value.starts_with('-') || word.value.starts_with('+')) {
                    // `export -n` removes the export; `-p` prints.
                    if first.value == "export"
                        && (word.value.contains('n') || word.value.contains('p'))
                    {
                        return Vec::new();
                    }
                    continue;
                }
                match split_assignment(word) {
                    Some((name, value)) => out.push(Assignment {
                        name,
                        value,
                        word: i,
                    }),
                    // A command word after leading assignments: `A=1 cmd` sets A for
                    // cmd only. A bare name after `export` exports what is already set.
                    None if !declaring => return Vec::new(),
                    None => {}
                }
            }
            out
        }
    }
}

/// `NAME=value` from a word whose name part is unquoted.
fn split_assignment(w: &Word) -> Option<(String, String)> {
    let (name, _) = w.raw.split_once('=')?;
    if !valid_name(name) {
        return None;
    }
    let (_, value) = w.value.split_once('=')?;
    Some((name.to_string(), value.to_string()))
}

/// A shell variable name.
pub fn valid_name(n: &str) -> bool {
    let mut b = n.bytes();
    b.next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == b'_')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}
