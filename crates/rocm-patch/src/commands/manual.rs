//! `rocm-patch completions` and `rocm-patch man`: generated from the argument types.

use crate::cli::{Cli, CompletionsArgs, ManArgs};
use crate::exit;
use clap::CommandFactory;
use std::io::Write;

pub(crate) fn completions(args: CompletionsArgs, out: &mut dyn Write) -> anyhow::Result<u8> {
    let mut cmd = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "rocm-patch", &mut script);
    if args.shell == clap_complete::Shell::Bash {
        // clap_complete spells the state of a subcommand of a hyphenated binary two ways
        // (`rocm__patch__subcmd__probe` in its loop, `rocm__subcmd__patch__subcmd__probe`
        // in its case arms), so no subcommand option ever completes (clap-rs/clap#6421).
        // The arms are respelled the way the loop spells them.
        let text = String::from_utf8(script)?;
        script = text
            .replace("rocm__subcmd__patch__subcmd__", "rocm__patch__subcmd__")
            .into_bytes();
    }
    out.write_all(&script)?;
    Ok(exit::OK)
}

pub(crate) fn man(args: ManArgs, out: &mut dyn Write) -> anyhow::Result<u8> {
    let cmd = Cli::command();
    let Some(dir) = args.dir else {
        clap_mangen::Man::new(cmd).render(out)?;
        return Ok(exit::OK);
    };
    if dir.symlink_metadata().is_err() {
        // A man directory that is not there yet (~/.local/share/man/man1 on a new system).
        std::fs::create_dir_all(&dir)
            .map_err(|e| anyhow::anyhow!("{}: cannot create: {e}", dir.display()))?;
    }
    if !dir.is_dir() {
        anyhow::bail!("{}: not a directory", dir.display());
    }
    // Every page is rendered before any is written. A page this program wrote before
    // (an older version's) is replaced; any other file is left alone.
    let mut pages = vec![("rocm-patch.1".to_string(), render(cmd.clone())?)];
    for sub in cmd.get_subcommands() {
        let name = format!("rocm-patch-{}", sub.get_name());
        let page = sub.clone().name(name.clone());
        pages.push((format!("{name}.1"), render(page)?));
    }
    let taken: Vec<String> = pages
        .iter()
        .map(|(n, _)| dir.join(n))
        .filter(|p| p.symlink_metadata().is_ok() && !ours(p))
        .map(|p| p.display().to_string())
        .collect();
    if !taken.is_empty() {
        anyhow::bail!(
            "already there and not a rocm-patch page, left alone: {}",
            taken.join(", ")
        );
    }
    for (name, text) in &pages {
        let path = dir.join(name);
        if path.symlink_metadata().is_ok() {
            // Replaced whole: written beside it, then renamed over it.
            let tmp = dir.join(format!(".{name}.rocm-patch-new"));
            let _ = std::fs::remove_file(&tmp);
            super::write_new(&tmp, text)?;
            std::fs::rename(&tmp, &path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        } else {
            super::write_new(&path, text)?;
        }
        writeln!(out, "{}", path.display())?;
    }
    Ok(exit::OK)
}

/// A regular file whose title line is a rocm-patch page's (`.TH rocm-patch…`).
fn ours(p: &std::path::Path) -> bool {
    let Ok(md) = p.symlink_metadata() else {
        return false;
    };
    if !md.is_file() || md.len() > 4 << 20 {
        return false;
    }
    rp_sys::read_regular(p, 4 << 20)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .is_some_and(|t| t.lines().take(10).any(|l| l.starts_with(".TH rocm-patch")))
}

fn render(cmd: clap::Command) -> anyhow::Result<Vec<u8>> {
    let mut v = Vec::new();
    clap_mangen::Man::new(cmd).render(&mut v)?;
    Ok(v)
}
