//! The fake probe worker: `fake/python`, given to rocm-patch as `--python`, and
//! [`FakeWorker`], which writes the `RP_FAKE_WORKER` directives that choose what it does
//! (the script's docstring lists them).

/// The fake interpreter (an executable Python 3 script that needs no torch).
pub const FAKE_PYTHON: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fake/python");

/// What the fake worker does: built up, then given to a run with
/// `rp.env(FakeWorker::VAR, w.spec())` (or [`FakeWorker::env`]).
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct FakeWorker {
    directives: Vec<String>,
}

impl FakeWorker {
    /// The variable the fake reads.
    pub const VAR: &'static str = "RP_FAKE_WORKER";

    /// A ROCm torch that sees an RX 5600 XT (gfx1010) and passes every probe.
    pub fn gpu() -> FakeWorker {
        FakeWorker::default()
    }

    /// A torch that sees no GPU: `--device auto` runs on the CPU.
    pub fn no_gpu() -> FakeWorker {
        FakeWorker::gpu().with("gpu=none")
    }

    /// Any directive (`key=value`, or `VAR?key=value` for one that applies only while
    /// VAR is set).
    pub fn with(mut self, directive: impl Into<String>) -> FakeWorker {
        self.directives.push(directive.into());
        self
    }

    /// `name` never answers.
    pub fn hang(self, name: &str) -> FakeWorker {
        self.with(format!("hang={name}"))
    }

    /// `name` kills the worker with `signal` (`SIGSEGV`, `SIGABRT`, ...).
    pub fn crash(self, name: &str, signal: &str) -> FakeWorker {
        self.with(format!("crash={name}:{signal}"))
    }

    /// `name` makes the worker exit with `code` (no signal, no answer).
    pub fn exit(self, name: &str, code: i32) -> FakeWorker {
        self.with(format!("exit={name}:{code}"))
    }

    /// `name` answers `wrong` (an AssertionError).
    pub fn wrong(self, name: &str) -> FakeWorker {
        self.with(format!("wrong={name}"))
    }

    /// `name` answers `error` with `message` (also on stderr).
    pub fn error(self, name: &str, message: &str) -> FakeWorker {
        self.with(format!("error={name}:{message}"))
    }

    /// `name` answers `wrong` while the variable `var` is set (a profile's variable).
    pub fn wrong_when(self, var: &str, name: &str) -> FakeWorker {
        self.with(format!("{var}?wrong={name}"))
    }

    /// Every benchmark time multiplied by `factor` while `var` is set.
    pub fn scale_when(self, var: &str, factor: f64) -> FakeWorker {
        self.with(format!("{var}?scale={factor}"))
    }

    /// `name`'s benchmark median, in milliseconds.
    pub fn ms(self, name: &str, ms: f64) -> FakeWorker {
        self.with(format!("ms={name}:{ms}"))
    }

    /// These probe (or benchmark) names instead of the defaults.
    pub fn probes(self, names: &[&str]) -> FakeWorker {
        self.with(format!("probes={}", names.join(",")))
    }

    /// Greet with `fatal` (torch does not import).
    pub fn fatal(self, message: &str) -> FakeWorker {
        self.with(format!("fatal={message}"))
    }

    /// The value of [`FakeWorker::VAR`].
    pub fn spec(&self) -> String {
        self.directives.join(";")
    }

    /// `(VAR, spec)`, for `Rp::envs([w.env()])`.
    pub fn env(&self) -> (&'static str, String) {
        (Self::VAR, self.spec())
    }
}
