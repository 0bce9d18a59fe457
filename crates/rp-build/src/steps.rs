//! The steps stage: the recipe's steps with their templates filled, run in order, each
//! logged to its own file. A step is skipped on a later run while its key (source,
//! command, environment, the keys before it) is unchanged and what it creates exists;
//! once one runs, the rest run.

use crate::{read_bounded, run, sha_hex, shell_join, BuildError, Event, Observer, Request, Vars};
use rp_report::{StepReport, StepState};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Instant;

/// A step with its templates filled.
pub(crate) struct FilledStep {
    argv: Vec<String>,
    key_argv: Vec<String>,
    env: BTreeMap<String, String>,
    cwd: PathBuf,
    creates: Vec<PathBuf>,
}

/// What running (or skipping) one step did.
#[derive(Debug)]
pub(crate) struct StepRun {
    /// How it ended.
    pub state: StepState,
    /// How long it ran.
    pub seconds: Option<f64>,
    /// Why it failed.
    pub status: Option<String>,
    /// Its log's last lines, when it failed.
    pub tail: Vec<String>,
}

impl StepRun {
    fn ended(state: StepState, seconds: Option<f64>) -> StepRun {
        StepRun {
            state,
            seconds,
            status: None,
            tail: Vec::new(),
        }
    }
}

/// The request's steps, `--with` arguments added, every template filled.
pub(crate) fn filled(req: &Request, v: &Vars) -> Result<Vec<FilledStep>, BuildError> {
    let mut out = Vec::new();
    for s in &req.recipe.recipe.steps {
        let mut run = s.run.clone();
        for w in &req.with {
            if let Some(extra) = s.with_args.get(w) {
                run.extend(extra.iter().cloned());
            }
        }
        let argv = run
            .iter()
            .map(|a| v.fill(a))
            .collect::<Result<Vec<_>, _>>()?;
        let key_argv = run.iter().map(|a| v.fill_for_key(a)).collect();
        let env = s
            .env
            .iter()
            .map(|(k, x)| Ok((k.clone(), v.fill(x)?)))
            .collect::<Result<BTreeMap<_, _>, BuildError>>()?;
        let cwd = PathBuf::from(v.fill(s.cwd.as_deref().unwrap_or("{build}"))?);
        let creates = s
            .creates
            .iter()
            .map(|c| v.fill(c).map(PathBuf::from))
            .collect::<Result<_, _>>()?;
        out.push(FilledStep {
            argv,
            key_argv,
            env,
            cwd,
            creates,
        });
    }
    Ok(out)
}

/// A step's log in the build directory.
pub(crate) fn log_path(work: &Path, name: &str) -> PathBuf {
    work.join("logs").join(format!("{name}.log"))
}

/// The steps as planned, then what running them did.
pub(crate) fn report(
    req: &Request,
    steps: &[FilledStep],
    work: &Path,
    runs: &[StepRun],
) -> Vec<StepReport> {
    let mut out: Vec<StepReport> = req
        .recipe
        .recipe
        .steps
        .iter()
        .zip(steps)
        .map(|(d, s)| StepReport {
            name: d.name.clone(),
            command: shell_join(&s.argv),
            env: s.env.iter().map(|(k, x)| format!("{k}={x}")).collect(),
            cwd: s.cwd.display().to_string(),
            state: if req.dry_run {
                StepState::Planned
            } else {
                StepState::NotRun
            },
            log: Some(log_path(work, &d.name).display().to_string()),
            ..Default::default()
        })
        .collect();
    for (report, run) in out.iter_mut().zip(runs) {
        report.state = run.state;
        report.seconds = run.seconds;
        report.status.clone_from(&run.status);
        report.tail.clone_from(&run.tail);
    }
    out
}

/// The key of a step: the key before it, its name, directory, command (`{jobs}` as
/// written) and environment.
fn step_key(before: &str, def: &crate::recipe::StepDef, s: &FilledStep, v: &Vars) -> String {
    let env_text: Vec<String> = def
        .env
        .iter()
        .map(|(k, x)| format!("{k}={}", v.fill_for_key(x)))
        .collect();
    let cwd_text = s.cwd.display().to_string();
    let mut parts: Vec<&[u8]> = vec![before.as_bytes(), def.name.as_bytes(), cwd_text.as_bytes()];
    parts.extend(s.key_argv.iter().map(|a| a.as_bytes()));
    parts.extend(env_text.iter().map(|e| e.as_bytes()));
    sha_hex(&parts)
}

/// Where the steps keep their logs and stamps, and what they run with.
struct Stage<'a> {
    req: &'a Request,
    logs: PathBuf,
    stamps: PathBuf,
    obs: &'a mut dyn Observer,
    cancel: &'a AtomicBool,
}

/// Run the steps from the tree of `source_key`, recording each in `runs`. A failed step
/// stops the stage (it is in `runs`); Ctrl-C is an error.
#[expect(
    clippy::too_many_arguments,
    reason = "the stage's inputs, each used once"
)]
pub(crate) fn run_all(
    req: &Request,
    v: &Vars,
    work: &Path,
    source_key: String,
    steps: &[FilledStep],
    runs: &mut Vec<StepRun>,
    obs: &mut dyn Observer,
    cancel: &AtomicBool,
) -> Result<(), BuildError> {
    let mut stage = Stage {
        req,
        logs: work.join("logs"),
        stamps: work.join("stamps"),
        obs,
        cancel,
    };
    let build_dir = PathBuf::from(&v.build);
    for d in [&stage.logs, &stage.stamps, &build_dir] {
        std::fs::create_dir_all(d).map_err(|e| BuildError::io(d, "cannot create", e))?;
    }
    let mut key = source_key;
    let mut ran_one = false;
    let count = steps.len();
    for (i, (def, s)) in req.recipe.recipe.steps.iter().zip(steps).enumerate() {
        key = step_key(&key, def, s, v);
        let stamp = stage.stamps.join(format!("{}.done", def.name));
        let done = read_bounded(&stamp, 4096).is_ok_and(|b| b == key.as_bytes());
        if !ran_one && done && s.creates.iter().all(|c| c.exists()) {
            runs.push(StepRun::ended(StepState::Skipped, None));
            stage.obs.event(Event::StepEnd {
                name: &def.name,
                state: StepState::Skipped,
            });
            continue;
        }
        ran_one = true;
        let _ = std::fs::remove_file(&stamp);
        let run = stage.run_one(i, count, &def.name, s, &stamp, &key, runs)?;
        if run == StepState::Failed {
            return Ok(());
        }
    }
    Ok(())
}

impl Stage<'_> {
    /// Run one step, record it in `runs` and, when it succeeded, write its stamp.
    #[expect(
        clippy::too_many_arguments,
        reason = "the step's position, identity and record"
    )]
    fn run_one(
        &mut self,
        i: usize,
        count: usize,
        name: &str,
        s: &FilledStep,
        stamp: &Path,
        key: &str,
        runs: &mut Vec<StepRun>,
    ) -> Result<StepState, BuildError> {
        let log = self.logs.join(format!("{name}.log"));
        std::fs::create_dir_all(&s.cwd).map_err(|e| BuildError::io(&s.cwd, "cannot create", e))?;
        self.obs.event(Event::StepStart {
            index: i + 1,
            count,
            name,
            log: &log,
        });
        let t = Instant::now();
        let ended = run::run(
            &run::Job {
                argv: &s.argv,
                env: &s.env,
                base_env: &self.req.env,
                cwd: &s.cwd,
                log: &log,
            },
            &mut *self.obs,
            self.cancel,
        )?;
        let seconds = Some(t.elapsed().as_secs_f64());
        let state = match ended {
            run::Ended::Ok => {
                if let Err(e) = std::fs::write(stamp, key.as_bytes()) {
                    // Ran, but not recorded: the step stays as planned, with its time.
                    runs.push(StepRun::ended(StepState::NotRun, seconds));
                    return Err(BuildError::io(stamp, "cannot write", e));
                }
                runs.push(StepRun::ended(StepState::Ran, seconds));
                StepState::Ran
            }
            run::Ended::Failed(what) => {
                runs.push(StepRun {
                    state: StepState::Failed,
                    seconds,
                    status: Some(what),
                    tail: run::tail(&log, 25),
                });
                StepState::Failed
            }
            run::Ended::Interrupted => {
                runs.push(StepRun::ended(StepState::Interrupted, seconds));
                StepState::Interrupted
            }
        };
        self.obs.event(Event::StepEnd { name, state });
        if state == StepState::Interrupted {
            return Err(BuildError::Interrupted);
        }
        Ok(state)
    }
}
