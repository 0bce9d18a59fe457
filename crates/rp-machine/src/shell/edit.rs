//! Commands that set variables taken out of a startup file, every other byte kept.

use super::{assignments, lex, Assignment, Dialect};

/// The file with the commands that set each of `names` taken out, every other byte
/// kept: a command whose every effect is one of `names` is commented out line by line
/// (each line prefixed with `marker`); a command that also sets other variables is
/// commented out the same way and followed by a copy without the removed assignments.
/// `lines` are the first lines of the commands to edit. Fails for a command that shares
/// a line with another, lies in a block, or that the lexer cannot place.
pub fn remove_assignments(
    text: &str,
    d: Dialect,
    lines: &[u32],
    names: &[String],
    marker: &str,
) -> Result<String, String> {
    let lexed = lex(text, d);
    let mut edits: Vec<(u32, u32, Option<String>)> = Vec::new();
    for &line in lines {
        let Some(c) = lexed
            .commands
            .iter()
            .find(|c| c.first_line == line && !assignments(d, c).is_empty())
        else {
            return Err(format!(
                "line {line}: no command that sets a variable starts there"
            ));
        };
        if c.uncertain {
            return Err(format!(
                "line {line}: the file cannot be read as its shell reads it before this line ({})",
                lexed.problem.clone().unwrap_or_default()
            ));
        }
        if c.depth > 0 {
            return Err(format!("line {line}: inside a block"));
        }
        if c.shares_line {
            return Err(format!("line {line}: shares its line with other commands"));
        }
        let all = assignments(d, c);
        let keep: Vec<&Assignment> = all.iter().filter(|a| !names.contains(&a.name)).collect();
        if keep.len() == all.len() {
            continue;
        }
        let rest = if keep.is_empty() {
            None
        } else {
            // The command without the removed assignments: its words as written.
            let gone: Vec<usize> = all
                .iter()
                .filter(|a| names.contains(&a.name))
                .map(|a| a.word)
                .collect();
            let words: Vec<&str> = c
                .words
                .iter()
                .enumerate()
                .filter(|(i, _)| !gone.contains(i))
                .map(|(_, w)| w.raw.as_str())
                .collect();
            Some(words.join(" "))
        };
        edits.push((c.first_line, c.last_line, rest));
    }
    let mut out = String::with_capacity(text.len() + edits.len() * (marker.len() + 80));
    let mut indent = String::new();
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let n = i as u32 + 1;
        match edits.iter().find(|(a, b, _)| (*a..=*b).contains(&n)) {
            Some((first, last, rest)) => {
                if n == *first {
                    // The copy is indented as the command was.
                    indent = line
                        .chars()
                        .take_while(|c| *c == ' ' || *c == '\t')
                        .collect();
                }
                out.push_str(marker);
                out.push_str(line);
                if n == *last {
                    if let Some(r) = rest {
                        if !line.ends_with('\n') {
                            out.push('\n');
                        }
                        out.push_str(&indent);
                        out.push_str(r);
                        out.push('\n');
                    }
                }
            }
            None => out.push_str(line),
        }
    }
    Ok(out)
}
