//! The lexer: a file split into whole commands, with their lines, the blocks around
//! them and whether another command shares a line (POSIX Shell Command Language §2.3,
//! §2.9.4). Quotes, nested pieces and here-documents are read in [`quote`].

mod quote;

use super::{Command, Dialect, Lexed, Word};

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
}
