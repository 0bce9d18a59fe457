//! Startup files read as their shells read them: commands that span lines (a backslash
//! before the newline, a quote left open), here-documents, comments, blocks, and the
//! commands that set variables (`NAME=V`, `export A=1 B=2`, `declare -x`/`typeset -x`,
//! fish's `set -gx`/`set -Ux`).
//!
//! Sources: POSIX Shell Command Language §2.2 (quoting, the backslash-newline line
//! continuation), §2.3 (token recognition: comments start a word), §2.7.4
//! (here-documents: the body starts on the line after the operator's line, `<<-` strips
//! leading tabs), §2.9.4 (compound commands); bash(1) SHELL BUILTIN COMMANDS (`export`,
//! `declare`/`typeset`); fish-doc `set` (`-x`/`--export`, `-g`, `-U`, `-e`).
//!
//! The lexer is deliberately small. It does not need to run the file, only to find
//! whole commands at the top level of a file and where they begin and end; anything it
//! cannot place (an unterminated quote or here-document) makes every command after it
//! "not editable".

use std::ops::Range;

/// The shell dialect of a startup file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// sh, bash, zsh.
    Sh,
    /// fish.
    Fish,
    /// `KEY=VALUE` lines only (/etc/environment, environment.d): nothing nests.
    Plain,
}

/// One word of a command: its text as written and its value with quotes removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    /// As written (quotes and escapes kept).
    pub raw: String,
    /// Quotes removed, escapes applied (expansions left as text).
    pub value: String,
    /// Bytes of the file it covers.
    pub span: Range<usize>,
}

/// One simple command (or the header of a compound one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// Its words.
    pub words: Vec<Word>,
    /// 1-based line of its first word.
    pub first_line: u32,
    /// 1-based line of its last word.
    pub last_line: u32,
    /// Blocks (if/case/loops/functions/braces; fish's `…end`) around it.
    pub depth: u32,
    /// Another command shares one of its lines (`a; b`, `a && b`, `a | b`).
    pub shares_line: bool,
    /// The lexer lost its place before this command (an unterminated quote or
    /// here-document earlier): nothing about it is certain.
    pub uncertain: bool,
}

/// What [`lex`] found.
#[derive(Debug, Clone, Default)]
pub struct Lexed {
    /// Commands in file order.
    pub commands: Vec<Command>,
    /// Lines inside here-documents (1-based), with their text.
    pub heredoc_lines: Vec<(u32, String)>,
    /// Why the lexer lost its place, if it did.
    pub problem: Option<String>,
}

/// A variable a command sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    /// The variable.
    pub name: String,
    /// Its value as written, quotes removed.
    pub value: String,
    /// Index of the word that sets it.
    pub word: usize,
}

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

/// Reserved words that open a block in command position.
fn opens(d: Dialect, w: &str) -> bool {
    match d {
        Dialect::Sh => matches!(
            w,
            "if" | "case" | "for" | "while" | "until" | "select" | "{" | "function"
        ),
        Dialect::Fish => matches!(w, "if" | "for" | "while" | "switch" | "function" | "begin"),
        Dialect::Plain => false,
    }
}

fn closes(d: Dialect, w: &str) -> bool {
    match d {
        Dialect::Sh => matches!(w, "fi" | "esac" | "done" | "}"),
        Dialect::Fish => w == "end",
        Dialect::Plain => false,
    }
}

/// Reserved words after which the next word is again in command position.
fn keeps_command_position(d: Dialect, w: &str) -> bool {
    match d {
        Dialect::Sh => matches!(
            w,
            "then" | "do" | "else" | "elif" | "!" | "time" | "if" | "while" | "until" | "{"
        ),
        Dialect::Fish => matches!(
            w,
            "and" | "or" | "not" | "else" | "if" | "while" | "begin" | "command" | "builtin"
        ),
        Dialect::Plain => false,
    }
}

struct Lexer<'a> {
    d: Dialect,
    text: &'a str,
    bytes: &'a [u8],
    i: usize,
    line: u32,
    out: Lexed,
    words: Vec<Word>,
    first_line: u32,
    word: Option<(String, String, usize, u32)>,
    /// Line where the last word of the current command ended.
    last_line: u32,
    depth: u32,
    /// Open blocks: `(` for subshells, `case`, or another keyword.
    stack: Vec<&'static str>,
    heredocs: Vec<(String, bool)>,
    /// Line of the last separator that was not a newline.
    joined_line: Option<u32>,
    uncertain: bool,
}

/// Split `text` into commands (see the module docs).
pub fn lex(text: &str, d: Dialect) -> Lexed {
    if d == Dialect::Plain {
        return lex_plain(text);
    }
    let mut l = Lexer {
        d,
        text,
        bytes: text.as_bytes(),
        i: 0,
        line: 1,
        out: Lexed::default(),
        words: Vec::new(),
        first_line: 1,
        word: None,
        last_line: 1,
        depth: 0,
        stack: Vec::new(),
        heredocs: Vec::new(),
        joined_line: None,
        uncertain: false,
    };
    l.run();
    l.out
}

fn lex_plain(text: &str) -> Lexed {
    let mut out = Lexed::default();
    let mut at = 0;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let body = line.trim_end_matches(['\n', '\r']);
        let t = body.trim();
        if !t.is_empty() && !t.starts_with('#') {
            let lead = body.len() - body.trim_start().len();
            let raw = t.to_string();
            let value = match raw.split_once('=') {
                Some((k, v)) => {
                    let v = v.trim();
                    let v = v
                        .strip_prefix('"')
                        .and_then(|x| x.strip_suffix('"'))
                        .or_else(|| v.strip_prefix('\'').and_then(|x| x.strip_suffix('\'')))
                        .unwrap_or(v);
                    format!("{}={v}", k.trim())
                }
                None => raw.clone(),
            };
            out.commands.push(Command {
                words: vec![Word {
                    raw: raw.replacen(" =", "=", 1).replacen("= ", "=", 1),
                    value,
                    span: at + lead..at + lead + t.len(),
                }],
                first_line: i as u32 + 1,
                last_line: i as u32 + 1,
                depth: 0,
                shares_line: false,
                uncertain: false,
            });
        }
        at += line.len();
    }
    out
}

impl Lexer<'_> {
    fn peek(&self, k: usize) -> Option<u8> {
        self.bytes.get(self.i + k).copied()
    }

    fn push_char(&mut self, raw: &str, value: &str) {
        let (at, line) = (self.i, self.line);
        let w = self
            .word
            .get_or_insert_with(|| (String::new(), String::new(), at, line));
        w.0.push_str(raw);
        w.1.push_str(value);
    }

    fn end_word(&mut self) {
        let Some((raw, value, start, line)) = self.word.take() else {
            return;
        };
        if self.words.is_empty() {
            self.first_line = line;
            // Reserved words in command position open or close blocks, and the next word
            // starts the command proper.
            if raw == value {
                if opens(self.d, &raw) {
                    self.depth += 1;
                    self.stack
                        .push(if raw == "case" { "case" } else { "block" });
                    if !keeps_command_position(self.d, &raw) {
                        // `for x in …`, `case w in`: the header is a command of its own.
                        self.words.push(Word {
                            raw,
                            value,
                            span: start..self.i,
                        });
                    }
                    return;
                }
                if closes(self.d, &raw) {
                    self.depth = self.depth.saturating_sub(1);
                    self.stack.pop();
                    return;
                }
                if keeps_command_position(self.d, &raw) {
                    return;
                }
            }
        }
        self.last_line = self.line;
        self.words.push(Word {
            raw,
            value,
            span: start..self.i,
        });
    }

    /// End the command; `newline`: it ended at a newline (else at `;`, `&`, `|`, …).
    fn end_command(&mut self, newline: bool) {
        self.end_word();
        if !self.words.is_empty() {
            let words = std::mem::take(&mut self.words);
            let last_line = self.last_line;
            let shares_line = self.joined_line == Some(self.first_line)
                || (!newline && self.rest_of_line_has_command());
            self.out.commands.push(Command {
                words,
                first_line: self.first_line,
                last_line,
                depth: self.depth,
                shares_line,
                uncertain: self.uncertain,
            });
        }
        if !newline {
            self.joined_line = Some(self.line);
        }
    }

    /// After a `;`/`&`/`|`: does anything but blanks and a comment follow on this line?
    fn rest_of_line_has_command(&self) -> bool {
        let rest = &self.text[(self.i + 1).min(self.text.len())..];
        let line = rest.split('\n').next().unwrap_or("");
        let t = line.trim_start_matches([';', '&', '|', ' ', '\t']);
        !(t.is_empty() || t.starts_with('#'))
    }

    fn run(&mut self) {
        while self.i < self.bytes.len() {
            let c = self.bytes[self.i];
            match c {
                b'\\' => {
                    if self.peek(1) == Some(b'\n') {
                        // Line continuation: removed, the word goes on.
                        self.i += 2;
                        self.line += 1;
                        continue;
                    }
                    let ch = self.text[self.i + 1..].chars().next();
                    match ch {
                        Some(ch) => {
                            let raw = format!("\\{ch}");
                            self.push_char(&raw, &ch.to_string());
                            self.i += 1 + ch.len_utf8();
                        }
                        None => self.i += 1,
                    }
                }
                b'\'' => self.single_quote(),
                b'"' => self.double_quote(),
                b'`' if self.d == Dialect::Sh => self.balanced(b'`', b'`'),
                b'$' if self.d == Dialect::Sh
                    && matches!(self.peek(1), Some(b'(') | Some(b'{')) =>
                {
                    let open = self.peek(1).unwrap_or(b'(');
                    let close = if open == b'(' { b')' } else { b'}' };
                    self.push_char("$", "$");
                    self.i += 1;
                    self.balanced(open, close);
                }
                b'(' if self.d == Dialect::Fish => self.balanced(b'(', b')'),
                b'#' if self.word.is_none() => {
                    while self.i < self.bytes.len() && self.bytes[self.i] != b'\n' {
                        self.i += 1;
                    }
                }
                b' ' | b'\t' | b'\r' => {
                    self.end_word();
                    self.i += 1;
                }
                b'\n' => {
                    self.end_command(true);
                    self.i += 1;
                    self.line += 1;
                    self.joined_line = None;
                    self.read_heredocs();
                }
                b';' | b'&' | b'|' => {
                    self.end_command(false);
                    self.i += 1;
                }
                b'(' | b')' if self.d == Dialect::Sh => {
                    let at_start = self.words.is_empty() && self.word.is_none();
                    self.end_command(false);
                    if c == b'(' && at_start {
                        self.depth += 1;
                        self.stack.push("(");
                    } else if c == b')' && self.stack.last() == Some(&"(") {
                        self.stack.pop();
                        self.depth = self.depth.saturating_sub(1);
                    }
                    self.i += 1;
                }
                b'<' if self.d == Dialect::Sh
                    && self.peek(1) == Some(b'<')
                    && self.peek(2) != Some(b'<') =>
                {
                    self.heredoc_operator();
                }
                _ => {
                    let ch = self.text[self.i..].chars().next().unwrap_or('\u{fffd}');
                    let s = ch.to_string();
                    self.push_char(&s, &s);
                    self.i += ch.len_utf8().max(1);
                }
            }
        }
        self.end_command(true);
    }

    fn lost(&mut self, why: String) {
        if self.out.problem.is_none() {
            self.out.problem = Some(why);
        }
        self.uncertain = true;
    }

    fn single_quote(&mut self) {
        let start = self.i;
        let mut j = self.i + 1;
        let mut value = String::new();
        while j < self.bytes.len() {
            let b = self.bytes[j];
            // fish: `\'` and `\\` are escapes inside single quotes.
            if self.d == Dialect::Fish
                && b == b'\\'
                && matches!(self.bytes.get(j + 1), Some(b'\'') | Some(b'\\'))
            {
                value.push(self.bytes[j + 1] as char);
                j += 2;
                continue;
            }
            if b == b'\'' {
                break;
            }
            j += 1;
        }
        if j >= self.bytes.len() {
            self.lost(format!("line {}: a quote (') is never closed", self.line));
            self.i = self.bytes.len();
            return;
        }
        if self.d != Dialect::Fish {
            value = self.text[start + 1..j].to_string();
        }
        let raw = &self.text[start..=j];
        self.line += raw.bytes().filter(|&b| b == b'\n').count() as u32;
        let raw = raw.to_string();
        self.push_char(&raw, &value);
        self.i = j + 1;
    }

    fn double_quote(&mut self) {
        let start = self.i;
        let mut j = self.i + 1;
        let mut value = String::new();
        while j < self.bytes.len() {
            match self.bytes[j] {
                b'\\' if j + 1 < self.bytes.len() => {
                    let n = self.bytes[j + 1];
                    match n {
                        b'\n' => {}
                        b'"' | b'\\' | b'$' | b'`' => value.push(n as char),
                        _ => {
                            value.push('\\');
                            value.push(n as char);
                        }
                    }
                    j += 2;
                }
                b'"' => break,
                _ => {
                    let ch = self.text[j..].chars().next().unwrap_or('\u{fffd}');
                    value.push(ch);
                    j += ch.len_utf8().max(1);
                }
            }
        }
        if j >= self.bytes.len() {
            self.lost(format!("line {}: a quote (\") is never closed", self.line));
            self.i = self.bytes.len();
            return;
        }
        let raw = self.text[start..=j].to_string();
        self.line += raw.bytes().filter(|&b| b == b'\n').count() as u32;
        self.push_char(&raw, &value);
        self.i = j + 1;
    }

    /// `$( … )`, `${ … }`, `` ` … ` `` or fish's `( … )`, kept as text, quotes inside
    /// respected.
    fn balanced(&mut self, open: u8, close: u8) {
        let start = self.i;
        let mut j = self.i + 1;
        let mut level = 1;
        let mut quote: Option<u8> = None;
        while j < self.bytes.len() && level > 0 {
            let b = self.bytes[j];
            match quote {
                Some(q) if b == q => quote = None,
                Some(_) if b == b'\\' => j += 1,
                Some(_) => {}
                None if b == b'\\' => j += 1,
                None if (b == b'\'' || b == b'"') && open != b'`' => quote = Some(b),
                None if b == close => level -= 1,
                None if b == open && open != close => level += 1,
                None => {}
            }
            j += 1;
        }
        if level > 0 {
            self.lost(format!(
                "line {}: '{}' is never closed",
                self.line, open as char
            ));
            self.i = self.bytes.len();
            return;
        }
        let raw = self.text[start..j].to_string();
        self.line += raw.bytes().filter(|&b| b == b'\n').count() as u32;
        self.push_char(&raw, &raw);
        self.i = j;
    }

    /// `<<WORD` or `<<-WORD` (the word may be quoted or follow blanks).
    fn heredoc_operator(&mut self) {
        self.push_char("<<", "<<");
        self.i += 2;
        let strip = self.peek(0) == Some(b'-');
        if strip {
            self.push_char("-", "-");
            self.i += 1;
        }
        while matches!(self.peek(0), Some(b' ') | Some(b'\t')) {
            self.i += 1;
        }
        let mut delim = String::new();
        while let Some(b) = self.peek(0) {
            if matches!(
                b,
                b' ' | b'\t' | b'\n' | b';' | b'&' | b'|' | b'<' | b'>' | b')' | b'('
            ) {
                break;
            }
            if b != b'\'' && b != b'"' && b != b'\\' {
                delim.push(b as char);
            }
            let s = (b as char).to_string();
            self.push_char(&s, &s);
            self.i += 1;
        }
        if delim.is_empty() {
            self.lost(format!(
                "line {}: a here-document without a delimiter",
                self.line
            ));
        } else {
            self.heredocs.push((delim, strip));
        }
    }

    /// The bodies of the here-documents opened on the line just ended.
    fn read_heredocs(&mut self) {
        for (delim, strip) in std::mem::take(&mut self.heredocs) {
            loop {
                if self.i >= self.bytes.len() {
                    self.lost(format!("the here-document ending with {delim} never ends"));
                    return;
                }
                let rest = &self.text[self.i..];
                let end = rest.find('\n').map_or(rest.len(), |n| n + 1);
                let line = rest[..end].trim_end_matches(['\n', '\r']);
                let cmp = if strip {
                    line.trim_start_matches('\t')
                } else {
                    line
                };
                self.i += end;
                if cmp == delim {
                    self.line += 1;
                    break;
                }
                self.out.heredoc_lines.push((self.line, line.to_string()));
                self.line += 1;
            }
        }
    }
}

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

#[cfg(test)]
mod tests {
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
}
