//! `rocm-patch deploy`, `rollback`, `history`, `recover`.

use super::settings::Settings;
use crate::cli::{DeployCommand, RecoverArgs, RollbackArgs};
use crate::{exit, render};
use rp_report::{HistoryReport, RecoverReport, TxReport, SCHEMA};
use std::io::Write;
use std::path::PathBuf;

/// The command line, as the journal records it.
fn command_line() -> String {
    std::env::args().collect::<Vec<_>>().join(" ")
}

pub(crate) fn deploy(c: DeployCommand, s: &Settings, out: &mut dyn Write) -> anyhow::Result<u8> {
    let sd = s.state_dir()?;
    let (steps, into, common, notes) = match c {
        DeployCommand::Plan { plan, into, common } => {
            let (plan_into, steps) = rp_deploy::plan::parse_plan(&plan)?;
            let into = into.or(plan_into).ok_or_else(|| {
                anyhow::anyhow!("{}: no `into` in the plan and no --into", plan.display())
            })?;
            (steps, into, common, Vec::new())
        }
        DeployCommand::Lib { file, into, common } => {
            let name = file
                .file_name()
                .ok_or_else(|| anyhow::anyhow!("{}: not a file name", file.display()))?;
            let steps = vec![rp_deploy::Step::File {
                source: file.clone(),
                target: PathBuf::from(name),
                mode: None,
            }];
            (steps, into, common, Vec::new())
        }
        DeployCommand::Tensile {
            from,
            arch,
            into,
            skip_version_check,
            common,
        } => {
            let (_dst, steps, notes) =
                rp_deploy::tensile::plan(&from, &arch, &into, skip_version_check)?;
            (steps, into, common, notes)
        }
    };
    let opts = rp_deploy::DeployOptions {
        into,
        system: common.system,
        no_load_check: common.no_load_check,
        allow_special_modes: common.allow_special_modes,
        command: command_line(),
        env: s.env.clone(),
    };
    let r = TxReport {
        notes,
        ..rp_deploy::deploy(&sd, &steps, &opts)?
    };
    super::emit(out, common.json, &r, render::deploy::tx)?;
    Ok(exit::OK)
}

pub(crate) fn rollback(a: RollbackArgs, s: &Settings, out: &mut dyn Write) -> anyhow::Result<u8> {
    let which = match (a.id, a.last) {
        (Some(id), _) => rp_deploy::Which::Id(id),
        (None, true) => rp_deploy::Which::Last,
        (None, false) => anyhow::bail!(
            "rollback needs a transaction id, or --last for the most recent one (ids: `rocm-patch history`)"
        ),
    };
    let r = rp_deploy::rollback(&s.state_dir()?, which, a.force)?;
    super::emit(out, a.json, &r, render::deploy::tx)?;
    Ok(exit::OK)
}

pub(crate) fn history(
    a: crate::cli::HistoryArgs,
    s: &Settings,
    out: &mut dyn Write,
) -> anyhow::Result<u8> {
    let sd = s.state_dir()?;
    let h = HistoryReport {
        schema: SCHEMA,
        state_dir: sd.display().to_string(),
        transactions: rp_deploy::history(&sd)?,
    };
    super::emit(out, a.json, &h, render::deploy::history)?;
    Ok(exit::OK)
}

pub(crate) fn recover(a: RecoverArgs, s: &Settings, out: &mut dyn Write) -> anyhow::Result<u8> {
    let sd = s.state_dir()?;
    let r = match &a.abandon {
        Some(id) => RecoverReport {
            schema: SCHEMA,
            not_restored: rp_deploy::abandon(&sd, id)?,
            abandoned: Some(id.clone()),
            ..Default::default()
        },
        None => RecoverReport {
            schema: SCHEMA,
            recovered: rp_deploy::recover(&sd)?,
            ..Default::default()
        },
    };
    super::emit(out, a.json, &r, render::deploy::recover)?;
    Ok(exit::OK)
}
