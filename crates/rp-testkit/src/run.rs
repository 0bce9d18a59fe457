//! Running the binary: [`Rp`] (the builder), [`Output`] (what came back) and [`Home`]
//! (an isolated home with config, data and state directories).

use serde::de::DeserializeOwned;
use std::ffi::{OsStr, OsString};
use std::io::{Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long a run may take unless [`Rp::timeout`] says otherwise.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

/// A command line for the `rocm-patch` binary.
#[must_use]
pub struct Rp {
    cmd: Command,
    args: Vec<OsString>,
    stdin: Option<Vec<u8>>,
    timeout: Duration,
}

impl Rp {
    /// The binary at `bin` (`env!("CARGO_BIN_EXE_rocm-patch")`).
    pub fn new(bin: impl AsRef<OsStr>) -> Rp {
        Rp {
            cmd: Command::new(bin),
            args: Vec::new(),
            stdin: None,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// One more argument.
    pub fn arg(mut self, a: impl AsRef<OsStr>) -> Rp {
        self.args.push(a.as_ref().to_os_string());
        self
    }

    /// More arguments.
    pub fn args<I, S>(mut self, args: I) -> Rp
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_os_string()));
        self
    }

    /// Set a variable.
    pub fn env(mut self, k: impl AsRef<OsStr>, v: impl AsRef<OsStr>) -> Rp {
        self.cmd.env(k, v);
        self
    }

    /// Set several variables.
    pub fn envs<I, K, V>(mut self, vars: I) -> Rp
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        self.cmd.envs(vars);
        self
    }

    /// Unset a variable.
    pub fn env_remove(mut self, k: impl AsRef<OsStr>) -> Rp {
        self.cmd.env_remove(k);
        self
    }

    /// Start from an empty environment.
    pub fn env_clear(mut self) -> Rp {
        self.cmd.env_clear();
        self
    }

    /// The working directory.
    pub fn current_dir(mut self, d: impl AsRef<Path>) -> Rp {
        self.cmd.current_dir(d);
        self
    }

    /// HOME, XDG_CONFIG_HOME, XDG_DATA_HOME and ROCM_PATCH_STATE_DIR inside `home`, the
    /// working directory there, and MIOPEN_FIND_MODE unset (tune reads it).
    pub fn home(self, home: &Home) -> Rp {
        self.env("HOME", home.root())
            .env("XDG_CONFIG_HOME", home.path("config"))
            .env("XDG_DATA_HOME", home.path("data"))
            .env("ROCM_PATCH_STATE_DIR", home.path("state"))
            .env_remove("MIOPEN_FIND_MODE")
            .current_dir(home.root())
    }

    /// `--state-dir DIR`.
    pub fn state_dir(self, d: impl AsRef<Path>) -> Rp {
        self.arg("--state-dir").arg(d.as_ref())
    }

    /// What the program reads on stdin (default: nothing, stdin is /dev/null).
    pub fn stdin(mut self, data: impl Into<Vec<u8>>) -> Rp {
        self.stdin = Some(data.into());
        self
    }

    /// Kill the program (its process group) and fail the test after `t`.
    pub fn timeout(mut self, t: Duration) -> Rp {
        self.timeout = t;
        self
    }

    /// The command line, for messages.
    fn describe(&self) -> String {
        let args: Vec<String> = self
            .args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        format!("rocm-patch {}", args.join(" "))
    }

    /// Run to the end (or the timeout, which panics with what was written so far).
    pub fn run(mut self) -> Output {
        let line = self.describe();
        self.cmd
            .args(&self.args)
            .stdin(if self.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        let mut child = spawn(&mut self.cmd).unwrap_or_else(|e| panic!("cannot run {line}: {e}"));
        let feed = self.stdin.take().map(|data| {
            let mut w = child.stdin.take().expect("piped stdin");
            std::thread::spawn(move || {
                let _ = w.write_all(&data);
            })
        });
        let out = drain(child.stdout.take().expect("piped stdout"));
        let err = drain(child.stderr.take().expect("piped stderr"));
        let t = Instant::now();
        let status = loop {
            if let Some(s) = child.try_wait().expect("wait") {
                break s;
            }
            if t.elapsed() > self.timeout {
                let _ = Command::new("kill")
                    .args(["-KILL", "--", &format!("-{}", child.id())])
                    .status();
                let _ = child.wait();
                let (o, e) = (text(out), text(err));
                panic!(
                    "{line}: still running after {:?}, killed\n--- stdout\n{o}\n--- stderr\n{e}",
                    self.timeout
                );
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        if let Some(f) = feed {
            let _ = f.join();
        }
        Output {
            line,
            code: status.code().unwrap_or(-1),
            signal: status.signal(),
            stdout: text(out),
            stderr: text(err),
        }
    }

    /// Run with `--json` (added when not among the arguments) and deserialize stdout as
    /// `T`; the exit code with it.
    pub fn json<T: DeserializeOwned>(self) -> (i32, T) {
        let o = self.json_output();
        let v = o.json();
        (o.code, v)
    }

    /// Run with `--json` (added when not among the arguments); the whole output.
    pub fn json_output(self) -> Output {
        let with = if self.args.iter().any(|a| a == "--json") {
            self
        } else {
            self.arg("--json")
        };
        with.run()
    }
}

fn drain(mut r: impl Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = r.read_to_end(&mut v);
        v
    })
}

fn text(h: std::thread::JoinHandle<Vec<u8>>) -> String {
    String::from_utf8_lossy(&h.join().unwrap_or_default()).into_owned()
}

/// What a run gave back.
#[derive(Debug, Clone)]
pub struct Output {
    /// The command line that ran.
    pub line: String,
    /// The exit code; -1 when a signal ended it.
    pub code: i32,
    /// The signal that ended it.
    pub signal: Option<i32>,
    /// Everything it wrote on stdout.
    pub stdout: String,
    /// Everything it wrote on stderr.
    pub stderr: String,
}

impl Output {
    /// stdout deserialized as `T`; a panic shows the command, stdout and stderr.
    pub fn json<T: DeserializeOwned>(&self) -> T {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "{}: stdout is not a {} ({e})\n--- stdout\n{}\n--- stderr\n{}",
                self.line,
                std::any::type_name::<T>(),
                self.stdout,
                self.stderr
            )
        })
    }

    /// stdout as raw JSON (for tests of the JSON shape itself).
    pub fn value(&self) -> serde_json::Value {
        self.json()
    }

    /// Assert the exit code; the panic shows the output.
    #[track_caller]
    pub fn code(&self, want: i32) -> &Output {
        assert_eq!(
            self.code, want,
            "{}: exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.line, self.stdout, self.stderr
        );
        self
    }

    /// (exit code, stdout, stderr), as the tests' old `rp()` returned.
    pub fn triple(self) -> (i32, String, String) {
        (self.code, self.stdout, self.stderr)
    }
}

/// An isolated home: `config`, `data` and `state` directories in a temporary directory.
pub struct Home {
    dir: tempfile::TempDir,
}

impl Default for Home {
    fn default() -> Self {
        Home::new()
    }
}

impl Home {
    /// A new, empty home.
    pub fn new() -> Home {
        let dir = tempfile::tempdir().expect("tempdir");
        for d in ["config", "data", "state"] {
            std::fs::create_dir_all(dir.path().join(d)).expect("mkdir");
        }
        Home { dir }
    }

    /// The home directory.
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// A path inside it.
    pub fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }
}

/// Spawn `cmd`, again while the program is "busy" (`ETXTBSY`): a file a test has just
/// written (a copied binary, a script) is held open for writing by any child another
/// test thread forked in that moment, until that child execs; the exec is refused
/// meanwhile. A few tries over a second outlast any such window.
fn spawn(cmd: &mut Command) -> std::io::Result<std::process::Child> {
    let mut tries = 0;
    loop {
        match cmd.spawn() {
            Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy && tries < 20 => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(50));
            }
            r => return r,
        }
    }
}
