//! The pieces of a word the lexer reads whole: quotes (POSIX §2.2), `$( … )`, `${ … }`,
//! backquotes and fish's `( … )`, and here-documents (§2.7.4: the body starts on the line
//! after the operator's line, `<<-` strips leading tabs).

use super::Lexer;
use crate::shell::Dialect;

impl Lexer<'_> {
    pub(super) fn single_quote(&mut self) {
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

    pub(super) fn double_quote(&mut self) {
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
    pub(super) fn balanced(&mut self, open: u8, close: u8) {
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
    pub(super) fn heredoc_operator(&mut self) {
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
    pub(super) fn read_heredocs(&mut self) {
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
