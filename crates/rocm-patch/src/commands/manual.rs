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
    if !dir.is_dir() {
        anyhow::bail!("{}: not a directory", dir.display());
    }
    // Every page is rendered before any is written, and none replaces a file.
    let mut pages = vec![("rocm-patch.1".to_string(), render(cmd.clone())?)];
    for sub in cmd.get_subcommands() {
        let name = format!("rocm-patch-{}", sub.get_name());
        let page = sub.clone().name(name.clone());
        pages.push((format!("{name}.1"), render(page)?));
    }
    let taken: Vec<String> = pages
        .iter()
        .map(|(n, _)| dir.join(n))
        .filter(|p| p.symlink_metadata().is_ok())
        .map(|p| p.display().to_string())
        .collect();
    if !taken.is_empty() {
        anyhow::bail!("already there, left alone: {}", taken.join(", "));
    }
    for (name, text) in &pages {
        super::write_new(&dir.join(name), text)?;
        writeln!(out, "{}", dir.join(name).display())?;
    }
    Ok(exit::OK)
}

fn render(cmd: clap::Command) -> anyhow::Result<Vec<u8>> {
    let mut v = Vec::new();
    clap_mangen::Man::new(cmd).render(&mut v)?;
    Ok(v)
}
