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

mod assign;
mod edit;
mod lex;

pub use assign::{assignments, valid_name};
pub use edit::remove_assignments;
pub use lex::lex;

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

#[cfg(test)]
mod tests;
