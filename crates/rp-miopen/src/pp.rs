//! A small, bounded C preprocessor for MIOpen's OpenCL kernel sources: conditionals
//! (`#if`, `#ifdef`, `#ifndef`, `#elif`, `#else`, `#endif`), object-like `#define` and
//! `#undef`, quoted `#include` resolved from sources found beside the kernel, and integer
//! `#if` expressions (C11 6.10.1: `defined`, the arithmetic, relational, bitwise, logical
//! and conditional operators; an identifier that is no macro after expansion is 0).
//!
//! It does not produce preprocessed text: it counts the active lines holding each of a few
//! needles (`row_bcast`, calls of the DPP reductions), which is what the batch-norm check
//! asks. Function-like
//! macros are recorded but never expanded; one used in an `#if` that must be evaluated
//! is an error (the caller's verdict is then "unknown"), never a guess.

use std::collections::HashMap;

/// Deepest `#if` nesting accepted (MIOpen's kernels nest fewer than 10).
const MAX_NESTING: usize = 256;
/// Deepest `#include` chain accepted.
const MAX_INCLUDE_DEPTH: usize = 8;
/// Most macro expansions within one `#if` expression.
const MAX_EXPANSIONS: usize = 4096;
/// Most bytes processed in one run, includes counted each time they are read.
const MAX_TOTAL_BYTES: usize = 64 << 20;

/// A macro definition as far as `#if` evaluation needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Macro {
    /// `#define NAME body`
    Object(String),
    /// `#define NAME(args) body`: never expanded here.
    Function,
}

/// The macro table: `-D` options first, then what the source defines.
pub type Macros = HashMap<String, Macro>;

/// Why a source could not be evaluated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PpError {
    /// `#elif`, `#else` or `#endif` without `#if`, or an `#if` never closed.
    Unbalanced { line: usize },
    /// Nesting, include depth, expansion count or byte budget exceeded.
    LimitExceeded(&'static str),
    /// An `#if`/`#elif` expression that is not a valid integer constant expression here.
    BadExpression { line: usize, why: String },
}

impl std::fmt::Display for PpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PpError::Unbalanced { line } => write!(f, "unbalanced conditional at line {line}"),
            PpError::LimitExceeded(what) => write!(f, "limit exceeded: {what}"),
            PpError::BadExpression { line, why } => {
                write!(f, "#if expression at line {line} not evaluated: {why}")
            }
        }
    }
}

impl std::error::Error for PpError {}

/// What one run found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scan {
    /// For each needle, the active lines (code, comments removed) that contain it.
    pub needle_lines: Vec<usize>,
    /// Quoted includes that were active but not found by the resolver.
    pub unresolved_includes: Vec<String>,
}

struct Frame {
    parent_active: bool,
    active: bool,
    taken: bool,
}

struct Run<'r> {
    macros: Macros,
    needles: &'r [&'r [u8]],
    resolve: &'r dyn Fn(&str) -> Option<&'r [u8]>,
    scan: Scan,
    total: usize,
}

/// Runs the preprocessor over `text` with `macros` predefined and counts the active lines
/// holding each of `needles`. `resolve` maps a quoted include name to its text.
pub fn scan<'r>(
    text: &'r [u8],
    macros: Macros,
    needles: &'r [&'r [u8]],
    resolve: &'r dyn Fn(&str) -> Option<&'r [u8]>,
) -> Result<(Scan, Macros), PpError> {
    let mut run = Run {
        macros,
        needles,
        resolve,
        scan: Scan {
            needle_lines: vec![0; needles.len()],
            unresolved_includes: Vec::new(),
        },
        total: 0,
    };
    run.file(text, 0)?;
    Ok((run.scan, run.macros))
}

impl<'r> Run<'r> {
    fn file(&mut self, text: &'r [u8], depth: usize) -> Result<(), PpError> {
        if depth > MAX_INCLUDE_DEPTH {
            return Err(PpError::LimitExceeded("include depth"));
        }
        self.total = self.total.saturating_add(text.len());
        if self.total > MAX_TOTAL_BYTES {
            return Err(PpError::LimitExceeded("bytes processed"));
        }
        let mut stack: Vec<Frame> = Vec::new();
        let mut lines = LogicalLines::new(text);
        while let Some((lineno, code)) = lines.next_line() {
            let active = stack.last().is_none_or(|f| f.active);
            let trimmed = code.trim_start();
            let Some(rest) = trimmed.strip_prefix('#') else {
                if active {
                    for (n, count) in self.needles.iter().zip(&mut self.scan.needle_lines) {
                        if memchr::memmem::find(code.as_bytes(), n).is_some() {
                            *count += 1;
                        }
                    }
                }
                continue;
            };
            let rest = rest.trim_start();
            let (word, args) = split_word(rest);
            match word {
                "if" | "ifdef" | "ifndef" => {
                    if stack.len() >= MAX_NESTING {
                        return Err(PpError::LimitExceeded("conditional nesting"));
                    }
                    let value = if active {
                        match word {
                            "if" => self.eval(args, lineno)?,
                            "ifdef" => self.macros.contains_key(first_ident(args)),
                            _ => !self.macros.contains_key(first_ident(args)),
                        }
                    } else {
                        false
                    };
                    stack.push(Frame {
                        parent_active: active,
                        active: value,
                        taken: value || !active,
                    });
                }
                "elif" => {
                    let (parent, taken) = match stack.last() {
                        Some(f) => (f.parent_active, f.taken),
                        None => return Err(PpError::Unbalanced { line: lineno }),
                    };
                    let value = parent && !taken && self.eval(args, lineno)?;
                    if let Some(f) = stack.last_mut() {
                        f.active = value;
                        f.taken |= value;
                    }
                }
                "else" => match stack.last_mut() {
                    Some(f) => {
                        f.active = f.parent_active && !f.taken;
                        f.taken = true;
                    }
                    None => return Err(PpError::Unbalanced { line: lineno }),
                },
                "endif" => {
                    stack.pop().ok_or(PpError::Unbalanced { line: lineno })?;
                }
                "define" if active => self.define(args),
                "undef" if active => {
                    self.macros.remove(first_ident(args));
                }
                "include" if active => {
                    let name = args.trim();
                    if let Some(name) = name.strip_prefix('"').and_then(|n| n.split('"').next()) {
                        match (self.resolve)(name) {
                            Some(inner) => self.file(inner, depth + 1)?,
                            None => self.scan.unresolved_includes.push(name.to_string()),
                        }
                    }
                }
                _ => {}
            }
        }
        if !stack.is_empty() {
            return Err(PpError::Unbalanced { line: lines.lineno });
        }
        Ok(())
    }

    fn define(&mut self, args: &str) {
        let args = args.trim_start();
        let name = first_ident(args);
        if name.is_empty() {
            return;
        }
        let after = &args[name.len()..];
        let mac = if after.starts_with('(') {
            Macro::Function
        } else {
            Macro::Object(after.trim().to_string())
        };
        self.macros.insert(name.to_string(), mac);
    }

    fn eval(&self, expr: &str, line: usize) -> Result<bool, PpError> {
        let bad = |why: String| PpError::BadExpression { line, why };
        let tokens = tokenize(expr).map_err(bad)?;
        let mut budget = MAX_EXPANSIONS;
        let mut active = Vec::new();
        let expanded = expand(&tokens, &self.macros, &mut active, &mut budget).map_err(bad)?;
        let mut p = Parser {
            toks: &expanded,
            pos: 0,
            macros: &self.macros,
        };
        let v = p.ternary().map_err(bad)?;
        if p.pos != expanded.len() {
            return Err(bad(format!("unexpected {:?}", expanded[p.pos])));
        }
        Ok(v != 0)
    }
}

/// Splits text into logical lines (backslash-newline joined) with comments removed; string
/// and character literals are kept as written.
struct LogicalLines<'t> {
    text: &'t [u8],
    pos: usize,
    lineno: usize,
    in_comment: bool,
}

impl<'t> LogicalLines<'t> {
    fn new(text: &'t [u8]) -> Self {
        LogicalLines {
            text,
            pos: 0,
            lineno: 0,
            in_comment: false,
        }
    }

    /// The next logical line: its first physical line number (1-based) and its code.
    fn next_line(&mut self) -> Option<(usize, String)> {
        if self.pos >= self.text.len() {
            return None;
        }
        let first = self.lineno + 1;
        let mut out = String::new();
        loop {
            let rest = &self.text[self.pos..];
            let end = memchr::memchr(b'\n', rest).unwrap_or(rest.len());
            let mut phys = &rest[..end];
            self.pos += (end + 1).min(rest.len());
            self.lineno += 1;
            if phys.last() == Some(&b'\r') {
                phys = &phys[..phys.len() - 1];
            }
            let cont = phys.last() == Some(&b'\\');
            if cont {
                phys = &phys[..phys.len() - 1];
            }
            self.strip_into(phys, &mut out);
            if !cont || self.pos >= self.text.len() {
                break;
            }
        }
        Some((first, out))
    }

    fn strip_into(&mut self, line: &[u8], out: &mut String) {
        let mut i = 0;
        let mut quote: Option<u8> = None;
        while i < line.len() {
            let c = line[i];
            if self.in_comment {
                if c == b'*' && line.get(i + 1) == Some(&b'/') {
                    self.in_comment = false;
                    out.push(' ');
                    i += 2;
                } else {
                    i += 1;
                }
                continue;
            }
            if let Some(q) = quote {
                out.push(char::from(c));
                if c == b'\\' && i + 1 < line.len() {
                    out.push(char::from(line[i + 1]));
                    i += 2;
                    continue;
                }
                if c == q {
                    quote = None;
                }
                i += 1;
                continue;
            }
            match c {
                b'/' if line.get(i + 1) == Some(&b'/') => return,
                b'/' if line.get(i + 1) == Some(&b'*') => {
                    self.in_comment = true;
                    i += 2;
                }
                b'"' | b'\'' => {
                    quote = Some(c);
                    out.push(char::from(c));
                    i += 1;
                }
                _ => {
                    out.push(char::from(c));
                    i += 1;
                }
            }
        }
    }
}

fn split_word(s: &str) -> (&str, &str) {
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    (&s[..end], &s[end..])
}

fn first_ident(s: &str) -> &str {
    split_word(s.trim_start()).0
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Num(i64),
    Ident(String),
    Op(&'static str),
}

const OPS: [&str; 24] = [
    "<<", ">>", "<=", ">=", "==", "!=", "&&", "||", "(", ")", "!", "~", "-", "+", "*", "/", "%",
    "<", ">", "&", "^", "|", "?", ":",
];

fn tokenize(s: &str) -> Result<Vec<Tok>, String> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c.is_ascii_digit() {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'.') {
                i += 1;
            }
            out.push(Tok::Num(parse_number(&s[start..i])?));
        } else if c.is_ascii_alphabetic() || c == b'_' {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            out.push(Tok::Ident(s[start..i].to_string()));
        } else if let Some(op) = OPS.iter().find(|op| s[i..].starts_with(**op)) {
            out.push(Tok::Op(op));
            i += op.len();
        } else {
            return Err(format!("unexpected character {:?}", char::from(c)));
        }
    }
    Ok(out)
}

fn parse_number(s: &str) -> Result<i64, String> {
    let digits = s.trim_end_matches(['u', 'U', 'l', 'L']);
    let parsed = if let Some(hex) = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        u64::from_str_radix(hex, 16)
    } else if digits.len() > 1 && digits.starts_with('0') {
        u64::from_str_radix(&digits[1..], 8)
    } else {
        digits.parse::<u64>()
    };
    parsed
        .map(|v| v as i64)
        .map_err(|_| format!("not an integer: {s}"))
}

/// Replaces object-like macros (recursively, a macro never inside its own expansion);
/// the operand of `defined` is left alone.
fn expand(
    toks: &[Tok],
    macros: &Macros,
    active: &mut Vec<String>,
    budget: &mut usize,
) -> Result<Vec<Tok>, String> {
    let mut out = Vec::with_capacity(toks.len());
    let mut i = 0;
    while i < toks.len() {
        match &toks[i] {
            Tok::Ident(name) if name == "defined" => {
                // Copy `defined X` or `defined ( X )` verbatim.
                let n = if toks.get(i + 1) == Some(&Tok::Op("(")) {
                    4
                } else {
                    2
                };
                let end = (i + n).min(toks.len());
                out.extend_from_slice(&toks[i..end]);
                i = end;
                continue;
            }
            Tok::Ident(name) if !active.contains(name) => match macros.get(name) {
                Some(Macro::Object(body)) => {
                    *budget = budget
                        .checked_sub(1)
                        .ok_or_else(|| "too many macro expansions".to_string())?;
                    let inner = tokenize(body)?;
                    active.push(name.clone());
                    let r = expand(&inner, macros, active, budget);
                    active.pop();
                    out.extend(r?);
                }
                Some(Macro::Function) => {
                    return Err(format!("function-like macro {name} in #if"));
                }
                None => out.push(toks[i].clone()),
            },
            t => out.push(t.clone()),
        }
        i += 1;
    }
    Ok(out)
}

struct Parser<'p> {
    toks: &'p [Tok],
    pos: usize,
    macros: &'p Macros,
}

impl Parser<'_> {
    fn peek_op(&self) -> Option<&'static str> {
        match self.toks.get(self.pos) {
            Some(Tok::Op(o)) => Some(o),
            _ => None,
        }
    }

    fn expect(&mut self, op: &str) -> Result<(), String> {
        if self.peek_op() == Some(op) {
            self.pos += 1;
            Ok(())
        } else {
            Err(format!("expected {op}"))
        }
    }

    fn ternary(&mut self) -> Result<i64, String> {
        let c = self.binary(0)?;
        if self.peek_op() == Some("?") {
            self.pos += 1;
            let a = self.ternary()?;
            self.expect(":")?;
            let b = self.ternary()?;
            return Ok(if c != 0 { a } else { b });
        }
        Ok(c)
    }

    fn binary(&mut self, level: usize) -> Result<i64, String> {
        const LEVELS: [&[&str]; 10] = [
            &["||"],
            &["&&"],
            &["|"],
            &["^"],
            &["&"],
            &["==", "!="],
            &["<", ">", "<=", ">="],
            &["<<", ">>"],
            &["+", "-"],
            &["*", "/", "%"],
        ];
        if level == LEVELS.len() {
            return self.unary();
        }
        let mut lhs = self.binary(level + 1)?;
        while let Some(op) = self.peek_op().filter(|o| LEVELS[level].contains(o)) {
            self.pos += 1;
            let rhs = self.binary(level + 1)?;
            lhs = match op {
                "||" => i64::from(lhs != 0 || rhs != 0),
                "&&" => i64::from(lhs != 0 && rhs != 0),
                "|" => lhs | rhs,
                "^" => lhs ^ rhs,
                "&" => lhs & rhs,
                "==" => i64::from(lhs == rhs),
                "!=" => i64::from(lhs != rhs),
                "<" => i64::from(lhs < rhs),
                ">" => i64::from(lhs > rhs),
                "<=" => i64::from(lhs <= rhs),
                ">=" => i64::from(lhs >= rhs),
                "<<" => lhs.wrapping_shl((rhs & 63) as u32),
                ">>" => lhs.wrapping_shr((rhs & 63) as u32),
                "+" => lhs.wrapping_add(rhs),
                "-" => lhs.wrapping_sub(rhs),
                "*" => lhs.wrapping_mul(rhs),
                "/" | "%" if rhs == 0 => return Err("division by zero".into()),
                "/" => lhs.wrapping_div(rhs),
                _ => lhs.wrapping_rem(rhs),
            };
        }
        Ok(lhs)
    }

    fn unary(&mut self) -> Result<i64, String> {
        match self.peek_op() {
            Some("!") => {
                self.pos += 1;
                Ok(i64::from(self.unary()? == 0))
            }
            Some("~") => {
                self.pos += 1;
                Ok(!self.unary()?)
            }
            Some("-") => {
                self.pos += 1;
                Ok(self.unary()?.wrapping_neg())
            }
            Some("+") => {
                self.pos += 1;
                self.unary()
            }
            _ => self.primary(),
        }
    }

    fn primary(&mut self) -> Result<i64, String> {
        let tok = self.toks.get(self.pos).cloned();
        self.pos += 1;
        match tok {
            Some(Tok::Num(n)) => Ok(n),
            Some(Tok::Op("(")) => {
                let v = self.ternary()?;
                self.expect(")")?;
                Ok(v)
            }
            Some(Tok::Ident(name)) if name == "defined" => {
                let paren = self.peek_op() == Some("(");
                if paren {
                    self.pos += 1;
                }
                let v = match self.toks.get(self.pos) {
                    Some(Tok::Ident(m)) => i64::from(self.macros.contains_key(m)),
                    _ => return Err("defined without a name".into()),
                };
                self.pos += 1;
                if paren {
                    self.expect(")")?;
                }
                Ok(v)
            }
            // C11 6.10.1p4: identifiers left after expansion are 0.
            Some(Tok::Ident(_)) => Ok(0),
            Some(t) => Err(format!("unexpected {t:?}")),
            None => Err("expression ends early".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str, defs: &[(&str, &str)]) -> Result<usize, PpError> {
        let macros = defs
            .iter()
            .map(|(k, v)| (k.to_string(), Macro::Object(v.to_string())))
            .collect();
        let none = |_: &str| None;
        scan(text.as_bytes(), macros, &[b"NEEDLE"], &none).map(|(s, _)| s.needle_lines[0])
    }

    #[test]
    fn conditionals_and_expressions() {
        let src = "#define A 0\n#if defined(__AMDGCN__) && !(A || B)\n#undef A\n#define A 1\n#endif\n#if A\nNEEDLE\n#endif\n";
        assert_eq!(run(src, &[("__AMDGCN__", "1")]), Ok(1));
        assert_eq!(run(src, &[("__AMDGCN__", "1"), ("B", "1")]), Ok(0));
        assert_eq!(run(src, &[]), Ok(0));
        let src = "#if X == 2\n#elif(X > 2) && (3 % 2 == 1) ? 1 : 0\nNEEDLE\n#else\n#endif\n";
        assert_eq!(run(src, &[("X", "3")]), Ok(1));
        assert_eq!(run(src, &[("X", "2")]), Ok(0));
        let src = "#ifndef M\n#define M 7\n#endif\n#if M == 7 && 0x10 == 16 && 1u << 4 == 16\nNEEDLE\n#endif\n";
        assert_eq!(run(src, &[]), Ok(1));
    }

    #[test]
    fn comments_continuations_and_inactive_directives() {
        let src = "/* #if 0\n NEEDLE */\n#if 1 && \\\n    1 // c\nNEEDLE \"s\" // NEEDLE\n#endif\n#if 0\n#if garbage ((\n#endif\nNEEDLE\n#endif\n";
        assert_eq!(run(src, &[]), Ok(1));
    }

    #[test]
    fn errors_are_typed() {
        assert!(matches!(
            run("#endif\n", &[]),
            Err(PpError::Unbalanced { .. })
        ));
        assert!(matches!(
            run("#if 1\n", &[]),
            Err(PpError::Unbalanced { .. })
        ));
        assert!(matches!(
            run("#define F(x) x\n#if F(1)\n#endif\n", &[]),
            Err(PpError::BadExpression { .. })
        ));
        assert!(matches!(
            run("#if 1/0\n#endif\n", &[]),
            Err(PpError::BadExpression { .. })
        ));
        assert!(matches!(
            run("#define A B\n#define B A\n#if A\n#endif\n", &[]),
            Ok(0)
        ));
        let deep = "#if 1\n".repeat(MAX_NESTING + 1);
        assert!(matches!(run(&deep, &[]), Err(PpError::LimitExceeded(_))));
    }
}
