//! deploy / rollback / recover: byte-exact round trips, stacking, refusals, kill -9 at
//! random points during hundreds of MB, a full disk, permissions, locking, the
//! dependency check, and sid's real gfx1010 Tensile files into a torch-like tree.

mod common;

#[cfg(feature = "real-data")]
use common::input;
#[cfg(feature = "real-data")]
use common::rp;
use common::tree_snapshot as snapshot;
use common::{cli, Output, Rp};
use rp_report::{ChangeKind, HistoryReport};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn rpx(state: &Path, args: &[&str]) -> Output {
    cli().state_dir(state).args(args).run()
}

/// `deploy plan PLAN --into TREE`.
fn plan_into(state: &Path, plan: &Path, tree: &Path) -> Output {
    rpx(
        state,
        &[
            "deploy",
            "plan",
            plan.to_str().unwrap(),
            "--into",
            tree.to_str().unwrap(),
        ],
    )
}

fn ok(o: &Output) -> String {
    o.code(0).stdout.clone()
}

fn err(o: &Output) -> String {
    assert_eq!(o.code, 2, "stdout: {}", o.stdout);
    o.stderr.clone()
}

fn write(p: &Path, data: &[u8]) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, data).unwrap();
}

/// A small tree and a plan touching every kind of operation.
fn small(d: &Path) -> (PathBuf, PathBuf) {
    let tree = d.join("tree");
    write(&tree.join("lib/a.so"), b"original a");
    write(&tree.join("lib/gone.txt"), b"to be removed");
    std::fs::set_permissions(
        tree.join("lib/a.so"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    std::os::unix::fs::symlink("a.so", tree.join("lib/a.so.1")).unwrap();
    write(&d.join("src/a.so"), b"new a");
    write(&d.join("src/b.dat"), b"new b");
    let plan = d.join("plan.toml");
    std::fs::write(
        &plan,
        "into = \"tree\"\n\n[[file]]\nsource = \"src/a.so\"\ntarget = \"lib/a.so\"\n\n[[file]]\nsource = \"src/b.dat\"\ntarget = \"lib/new/dir/b.dat\"\nmode = \"0600\"\n\n[[symlink]]\ntarget = \"lib/a.so.1\"\nto = \"new/dir/b.dat\"\n\n[[remove]]\ntarget = \"lib/gone.txt\"\n",
    )
    .unwrap();
    (tree, plan)
}

#[test]
fn plan_deploy_and_byte_exact_rollback() {
    let d = tempfile::tempdir().unwrap();
    let (tree, plan) = small(d.path());
    let state = d.path().join("state");
    let before = snapshot(&tree);
    let out = ok(&rpx(
        &state,
        &["deploy", "plan", plan.to_str().unwrap(), "--no-load-check"],
    ));
    assert!(out.starts_with("transaction 1 committed"), "{out}");
    assert_eq!(std::fs::read(tree.join("lib/a.so")).unwrap(), b"new a");
    assert_eq!(
        std::fs::metadata(tree.join("lib/a.so")).unwrap().mode() & 0o777,
        0o755,
        "mode kept"
    );
    assert_eq!(
        std::fs::metadata(tree.join("lib/new/dir/b.dat"))
            .unwrap()
            .mode()
            & 0o777,
        0o600
    );
    assert_eq!(
        std::fs::read_link(tree.join("lib/a.so.1")).unwrap(),
        Path::new("new/dir/b.dat")
    );
    assert!(!tree.join("lib/gone.txt").exists());
    let h = rpx(&state, &["history", "--json"]);
    h.code(0);
    let h: HistoryReport = h.json();
    let changes: Vec<ChangeKind> = h.transactions[0].changes.iter().map(|c| c.change).collect();
    assert_eq!(
        changes,
        [
            ChangeKind::Replace,
            ChangeKind::Mkdir,
            ChangeKind::Mkdir,
            ChangeKind::Add,
            ChangeKind::Symlink,
            ChangeKind::Remove
        ]
    );
    ok(&rpx(&state, &["rollback", "1"]));
    assert_eq!(snapshot(&tree), before);
    // Rolled back once: not again.
    assert!(err(&rpx(&state, &["rollback", "1"])).contains("not committed"));
    // Nothing interrupted: recover exits 0.
    assert_eq!(ok(&rpx(&state, &["recover"])).trim(), "nothing to recover");
}

#[test]
fn stacked_transactions_and_changed_files() {
    let d = tempfile::tempdir().unwrap();
    let tree = d.path().join("tree");
    write(&tree.join("lib/libx.so"), b"v0");
    let state = d.path().join("state");
    let v0 = snapshot(&tree);
    for v in ["v1", "v2"] {
        write(&d.path().join(v).join("libx.so"), v.as_bytes());
        ok(&rpx(
            &state,
            &[
                "deploy",
                "lib",
                d.path().join(v).join("libx.so").to_str().unwrap(),
                "--into",
                tree.join("lib").to_str().unwrap(),
                "--no-load-check",
            ],
        ));
    }
    let v2 = snapshot(&tree);
    // The older one is refused: its file changed since, by transaction 2.
    let e = err(&rpx(&state, &["rollback", "1"]));
    assert!(
        e.contains("libx.so (by transaction 2: roll it back first)"),
        "{e}"
    );
    // In order: 2, then 1.
    ok(&rpx(&state, &["rollback", "--last"]));
    let v1 = snapshot(&tree);
    assert_ne!(v1, v2);
    ok(&rpx(&state, &["rollback", "--last"]));
    assert_eq!(snapshot(&tree), v0);
    assert!(err(&rpx(&state, &["rollback", "--last"])).contains("no committed transaction"));
    // Changed by hand after a deploy: refused, naming it; --force restores.
    ok(&rpx(
        &state,
        &[
            "deploy",
            "lib",
            d.path().join("v1/libx.so").to_str().unwrap(),
            "--into",
            tree.join("lib").to_str().unwrap(),
            "--no-load-check",
        ],
    ));
    write(&tree.join("lib/libx.so"), b"edited by hand");
    let e = err(&rpx(&state, &["rollback", "--last"]));
    assert!(
        e.contains("changed after it") && e.contains("libx.so"),
        "{e}"
    );
    ok(&rpx(&state, &["rollback", "--last", "--force"]));
    assert_eq!(snapshot(&tree), v0);
    // Deploying what is already there changes nothing and records an empty transaction.
    let out = ok(&rpx(
        &state,
        &[
            "deploy",
            "lib",
            tree.join("lib/libx.so").to_str().unwrap(),
            "--into",
            tree.join("lib").to_str().unwrap(),
            "--no-load-check",
        ],
    ));
    assert!(out.contains("no changes"), "{out}");
}

#[test]
fn bad_plans_and_refusals_leave_everything_alone() {
    let d = tempfile::tempdir().unwrap();
    let (tree, plan) = small(d.path());
    let state = d.path().join("state");
    let before = snapshot(&tree);
    let bad = d.path().join("bad.toml");
    for (text, want) in [
        (
            "[[file]]\nsource = \"src/a.so\"\ntarget = \"../escape\"\n",
            "inside the tree",
        ),
        (
            "[[file]]\nsource = \"src/nope\"\ntarget = \"lib/x\"\n",
            "src/nope",
        ),
        (
            "[[file]]\nsource = \"src/a.so\"\n",
            "missing field `target`",
        ),
        (
            "[[file]]\nsource = \"src/a.so\"\ntarget = \"lib/x\"\nmode = \"rw\"\n",
            "not octal",
        ),
        ("[[remove]]\ntarget = \"lib/never\"\n", "does not exist"),
        ("", "no [[file]]"),
    ] {
        std::fs::write(&bad, text).unwrap();
        let e = err(&plan_into(&state, &bad, &tree));
        assert!(e.contains(want), "{text}: {e}");
    }
    // System paths need --system.
    let e = err(&rpx(
        &state,
        &[
            "deploy",
            "lib",
            d.path().join("src/a.so").to_str().unwrap(),
            "--into",
            "/usr/lib",
        ],
    ));
    assert!(e.contains("--system"), "{e}");
    assert_eq!(snapshot(&tree), before);
    let _ = plan;
    // A held lock: the second invocation says so.
    std::fs::create_dir_all(&state).unwrap();
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(state.join("lock"))
        .unwrap();
    f.try_lock().unwrap();
    let e = err(&rpx(
        &state,
        &["deploy", "plan", plan.to_str().unwrap(), "--no-load-check"],
    ));
    assert!(e.contains("another rocm-patch"), "{e}");
    drop(f);
    ok(&rpx(
        &state,
        &["deploy", "plan", plan.to_str().unwrap(), "--no-load-check"],
    ));
}

#[cfg(feature = "real-data")]
#[test]
fn the_dependency_check_refuses_and_rolls_back() {
    let d = tempfile::tempdir().unwrap();
    let b = d.path().join("build");
    std::fs::create_dir_all(&b).unwrap();
    std::fs::write(b.join("dep.c"), "int dep(void) { return 1; }\n").unwrap();
    std::fs::write(
        b.join("n.c"),
        "int dep(void); int f(void) { return dep(); }\n",
    )
    .unwrap();
    let cc = |args: &[&str]| {
        let s = Command::new("gcc")
            .current_dir(&b)
            .args(args)
            .status()
            .expect("gcc");
        assert!(s.success());
    };
    cc(&[
        "-shared",
        "-fPIC",
        "-o",
        "libdep.so",
        "dep.c",
        "-Wl,-soname,libdep_gone.so.1",
    ]);
    cc(&[
        "-shared",
        "-fPIC",
        "-o",
        "libneeds.so",
        "n.c",
        "-L.",
        "-ldep",
    ]);
    std::fs::remove_file(b.join("libdep.so")).unwrap();
    let tree = d.path().join("torch/lib");
    write(&tree.join("libneeds.so"), b"the old one");
    let state = d.path().join("state");
    let before = snapshot(&tree);
    let e = err(&rpx(
        &state,
        &[
            "deploy",
            "lib",
            b.join("libneeds.so").to_str().unwrap(),
            "--into",
            tree.to_str().unwrap(),
        ],
    ));
    assert!(e.contains("missing libdep_gone.so.1"), "{e}");
    assert!(e.contains("rolled back"), "{e}");
    assert_eq!(snapshot(&tree), before);
    ok(&rpx(
        &state,
        &[
            "deploy",
            "lib",
            b.join("libneeds.so").to_str().unwrap(),
            "--into",
            tree.to_str().unwrap(),
            "--no-load-check",
        ],
    ));
    // A real HIP library whose dependencies resolve (Debian's libamdhip64).
    ok(&rpx(
        &state,
        &[
            "deploy",
            "lib",
            input("RP_FIXTURES").join("libone_tu.so").to_str().unwrap(),
            "--into",
            tree.to_str().unwrap(),
        ],
    ));
}

/// A tree of `n` files of `size` bytes and a plan replacing all of them and adding as many.
fn big(d: &Path, n: usize, size: usize) -> (PathBuf, PathBuf) {
    let tree = d.join("tree");
    let src = d.join("src");
    let mut plan =
        String::from("[[file]]\nsource = \"src/f0000.bin\"\ntarget = \"lib/f0000.bin\"\n");
    let mut seed = 0x9e3779b97f4a7c15u64;
    let mut chunk = vec![0u8; size];
    for i in 0..n {
        for c in chunk.chunks_mut(8) {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            c.copy_from_slice(&seed.to_le_bytes()[..c.len()]);
        }
        write(&tree.join(format!("lib/f{i:04}.bin")), &chunk);
        chunk[0] ^= 0xff;
        write(&src.join(format!("f{i:04}.bin")), &chunk);
        write(&src.join(format!("g{i:04}.bin")), &chunk[..size / 2]);
        if i > 0 {
            plan.push_str(&format!(
                "[[file]]\nsource = \"src/f{i:04}.bin\"\ntarget = \"lib/f{i:04}.bin\"\n"
            ));
        }
        plan.push_str(&format!(
            "[[file]]\nsource = \"src/g{i:04}.bin\"\ntarget = \"lib/new/g{i:04}.bin\"\n"
        ));
    }
    let p = d.join("plan.toml");
    std::fs::write(&p, plan).unwrap();
    (tree, p)
}

struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

#[test]
fn kill_9_at_random_points_then_recover_is_byte_identical() {
    let d = tempfile::tempdir().unwrap();
    // 250 replaced files of 128 KiB plus 250 added of 64 KiB: 48 MiB written per deploy
    // (each file synced: the time goes to the syncs, not the bytes); about 200 MiB of disk
    // in all with the sources, the tree, the new files and the saved originals.
    let (tree, plan) = big(d.path(), 250, 128 << 10);
    let state = d.path().join("state");
    let original = snapshot(&tree);
    let deploy_args = [
        "deploy",
        "plan",
        plan.to_str().unwrap(),
        "--into",
        tree.to_str().unwrap(),
        "--no-load-check",
    ];
    let deploy = || {
        Command::new(env!("CARGO_BIN_EXE_rocm-patch"))
            .arg("--state-dir")
            .arg(&state)
            .args(deploy_args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    // One undisturbed run to learn how long a deploy takes (its errors shown if it fails).
    let t = Instant::now();
    ok(&rpx(&state, &deploy_args));
    let full = t.elapsed();
    let deployed = snapshot(&tree);
    ok(&rpx(&state, &["rollback", "--last"]));
    assert_eq!(snapshot(&tree), original);
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let mut rng = Lcg(seed);
    let mut interrupted = 0;
    for round in 0..12 {
        let at = Duration::from_micros(rng.next() % (full.as_micros() as u64 * 11 / 10).max(1));
        let mut child = deploy();
        std::thread::sleep(at);
        let _ = child.kill(); // SIGKILL
        let status = child.wait().unwrap();
        let h = rpx(&state, &["history"]);
        if h.code == 2 {
            interrupted += 1;
            assert!(h.stderr.contains("rocm-patch recover"));
            // Every other command refuses until then.
            let e = err(&rpx(&state, &deploy_args));
            assert!(e.contains("rocm-patch recover"), "{e}");
            // Commands that change nothing warn, and still work.
            let o = rpx(&state, &["inspect", plan.to_str().unwrap()]);
            assert!(o.stderr.contains("run `rocm-patch recover`"));
        }
        ok(&rpx(&state, &["recover"]));
        let now = snapshot(&tree);
        if status.success() {
            // It finished before the kill: committed; roll it back.
            assert_eq!(now, deployed, "seed {seed} round {round}");
            ok(&rpx(&state, &["rollback", "--last"]));
        } else {
            assert!(
                now == original || now == deployed,
                "seed {seed} round {round}: tree half-applied after recover"
            );
            if now == deployed {
                ok(&rpx(&state, &["rollback", "--last"]));
            }
        }
        assert_eq!(
            snapshot(&tree),
            original,
            "seed {seed} round {round} (killed after {at:?})"
        );
    }
    assert!(
        interrupted > 0,
        "no kill landed inside a deploy (seed {seed}, deploy takes {full:?})"
    );
    // Exact points: after the first, a middle and the last file operation (just before
    // the commit), and during a rollback.
    let ops = 250 + 1 + 250; // replaced, the new directory, added
    for after in [1, ops / 2, ops] {
        let st = cli()
            .env("ROCM_PATCH_FAULT_AFTER_OPS", after.to_string())
            .state_dir(&state)
            .args(deploy_args)
            .run();
        assert_ne!(st.code, 0);
        ok(&rpx(&state, &["recover"]));
        assert_eq!(snapshot(&tree), original, "abort after op {after}");
    }
    ok(&rpx(&state, &deploy_args));
    // A rollback that dies after half of its file operations (an exact point, whatever
    // the machine's load): recover finishes it.
    let st = cli()
        .env("ROCM_PATCH_FAULT_AFTER_UNDO", (ops / 2).to_string())
        .state_dir(&state)
        .args(["rollback", "--last"])
        .run();
    assert_ne!(st.code, 0);
    assert_ne!(
        snapshot(&tree),
        original,
        "the rollback was not interrupted"
    );
    assert_ne!(
        snapshot(&tree),
        deployed,
        "the rollback was not interrupted"
    );
    ok(&rpx(&state, &["recover"]));
    assert_eq!(snapshot(&tree), original, "interrupted rollback");
    // And a SIGKILL at a random time during a rollback: never half-undone after recover
    // (a kill before the rollback began leaves the deploy, which a rollback then undoes).
    ok(&rpx(&state, &deploy_args));
    let mut child = Command::new(env!("CARGO_BIN_EXE_rocm-patch"))
        .arg("--state-dir")
        .arg(&state)
        .args(["rollback", "--last"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_micros(
        rng.next() % (full.as_micros() as u64).max(1),
    ));
    let _ = child.kill();
    let _ = child.wait();
    ok(&rpx(&state, &["recover"]));
    let now = snapshot(&tree);
    assert!(
        now == original || now == deployed,
        "seed {seed}: tree half-undone after recover"
    );
    if now == deployed {
        ok(&rpx(&state, &["rollback", "--last"]));
    }
    assert_eq!(snapshot(&tree), original, "killed rollback (seed {seed})");
}

/// The binary, run as nobody when the tests run as root.
fn as_unprivileged() -> Rp {
    if rp_sys::os::euid() == 0 {
        Rp::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(env!("CARGO_BIN_EXE_rocm-patch"))
    } else {
        cli()
    }
}

#[test]
fn permission_denied_names_the_path() {
    let d = tempfile::tempdir().unwrap();
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let (tree, plan) = small(d.path());
    let state = d.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o777)).unwrap();
    std::fs::set_permissions(tree.join("lib"), std::fs::Permissions::from_mode(0o555)).unwrap();
    for p in [
        "src",
        "src/a.so",
        "src/b.dat",
        "plan.toml",
        "tree",
        "tree/lib/a.so",
        "tree/lib/gone.txt",
    ] {
        let path = d.path().join(p);
        let mode = if path.is_dir() { 0o755 } else { 0o644 };
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    let before = snapshot(&tree);
    let o = as_unprivileged()
        .state_dir(&state)
        .args(["deploy", "plan", plan.to_str().unwrap(), "--no-load-check"])
        .run();
    let e = err(&o);
    assert!(
        e.contains("permission denied") && e.contains(&tree.join("lib").display().to_string()),
        "{e}"
    );
    assert_eq!(snapshot(&tree), before);
    std::fs::set_permissions(tree.join("lib"), std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn a_full_disk_is_named_and_leaves_the_tree_unchanged() {
    // A 3 MiB tmpfs in a private mount namespace (unshare: root, or an unprivileged user
    // namespace); the state directory stays on the normal disk.
    let d = tempfile::tempdir().unwrap();
    let mnt = d.path().join("mnt");
    std::fs::create_dir_all(&mnt).unwrap();
    let src = d.path().join("src");
    write(&src.join("small.bin"), &vec![1u8; 1 << 20]);
    write(&src.join("huge.bin"), &vec![2u8; 4 << 20]);
    std::fs::write(
        d.path().join("plan.toml"),
        "[[file]]\nsource = \"src/small.bin\"\ntarget = \"lib/a.bin\"\n[[file]]\nsource = \"src/huge.bin\"\ntarget = \"lib/b.bin\"\n",
    )
    .unwrap();
    let script = format!(
        r#"set -e
mount -t tmpfs -o size=3m tmpfs {mnt}
mkdir -p {mnt}/tree/lib
head -c 1048576 /dev/zero > {mnt}/tree/lib/a.bin
before=$(cd {mnt}/tree && find . -type f -exec md5sum {{}} + | sort)
set +e
{rp} --state-dir {state} deploy plan {plan} --into {mnt}/tree --no-load-check
echo "rc=$?"
after=$(cd {mnt}/tree && find . -type f -exec md5sum {{}} + | sort)
[ "$before" = "$after" ] && echo TREE-UNCHANGED
ls -A {mnt}/tree/lib
"#,
        mnt = mnt.display(),
        rp = env!("CARGO_BIN_EXE_rocm-patch"),
        state = d.path().join("state").display(),
        plan = d.path().join("plan.toml").display(),
    );
    let o = Command::new("unshare")
        .args(["-rm", "sh", "-c", &script])
        .output()
        .expect("unshare (util-linux)");
    let out = String::from_utf8_lossy(&o.stdout);
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(out.contains("rc=2"), "{out}\n{e}");
    assert!(e.contains("No space left on device"), "{e}");
    assert!(e.contains("b.bin"), "{e}");
    assert!(out.contains("TREE-UNCHANGED"), "{out}");
    assert_eq!(
        out.lines().last(),
        Some("a.bin"),
        "no temporary files left: {out}"
    );
}

#[cfg(feature = "real-data")]
#[test]
fn sid_gfx1010_tensile_files_into_a_torch_like_tree() {
    let d = tempfile::tempdir().unwrap();
    let sid = input("RP_SID");
    let sid_lib = std::fs::read_dir(sid.join("usr/lib/x86_64-linux-gnu/rocblas"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path()
        .join("library");
    // torch/lib with a rocBLAS 4.4 (sid's real library, linked) and a Tensile directory
    // holding sid's gfx1030 files but no gfx1010 ones.
    let torch = d.path().join("site-packages/torch");
    let lib = torch.join("lib/rocblas/library");
    std::fs::create_dir_all(&lib).unwrap();
    std::os::unix::fs::symlink(
        sid.join("usr/lib/x86_64-linux-gnu/librocblas.so.4.4"),
        torch.join("lib/librocblas.so.4.4"),
    )
    .unwrap();
    for e in std::fs::read_dir(&sid_lib).unwrap() {
        let e = e.unwrap();
        let n = e.file_name().to_string_lossy().into_owned();
        if n.contains("gfx1030")
            && (n.starts_with("TensileLibrary_lazy")
                || n.starts_with("Kernels")
                || n.contains("Type_SS"))
        {
            std::fs::copy(e.path(), lib.join(&n)).unwrap();
        }
    }
    let before = snapshot(&torch);
    let (code, r) = common::inspect_json(&["--gpu", "gfx1010", lib.to_str().unwrap()]);
    assert_eq!(code, 1, "no gfx1010 before");
    let _ = r;
    let state = d.path().join("state");
    let out = ok(&rpx(
        &state,
        &[
            "deploy",
            "tensile",
            "--from",
            sid.to_str().unwrap(),
            "--arch",
            "gfx1010",
            "--into",
            torch.to_str().unwrap(),
        ],
    ));
    assert!(out.contains("rocBLAS 4.4 on both sides"), "{out}");
    let n_sid = std::fs::read_dir(&sid_lib)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains("gfx1010")
        })
        .count();
    let added = out
        .lines()
        .filter(|l| l.trim_start().starts_with("add "))
        .count();
    assert_eq!(added, n_sid, "{out}");
    let (code, r) = common::inspect_json(&["--gpu", "gfx1010", lib.to_str().unwrap()]);
    assert_eq!(code, 0, "{:?}", r.coverage);
    ok(&rpx(&state, &["rollback", "--last"]));
    assert_eq!(snapshot(&torch), before);
    // Another rocBLAS release is refused, with the reason.
    std::fs::remove_file(torch.join("lib/librocblas.so.4.4")).unwrap();
    write(&torch.join("lib/librocblas.so.4.2.60200"), b"");
    let e = err(&rpx(
        &state,
        &[
            "deploy",
            "tensile",
            "--from",
            sid.to_str().unwrap(),
            "--arch",
            "gfx1010",
            "--into",
            torch.to_str().unwrap(),
        ],
    ));
    assert!(
        e.contains("rocBLAS versions differ") && e.contains("4.4") && e.contains("4.2"),
        "{e}"
    );
    // Only the major version known on one side (a librocblas.so.4 soname): never claimed
    // to match (issue 13).
    std::fs::remove_file(torch.join("lib/librocblas.so.4.2.60200")).unwrap();
    write(&torch.join("lib/librocblas.so.4"), b"");
    let e = err(&rpx(
        &state,
        &[
            "deploy",
            "tensile",
            "--from",
            sid.to_str().unwrap(),
            "--arch",
            "gfx1010",
            "--into",
            torch.to_str().unwrap(),
        ],
    ));
    assert!(
        e.contains("only the major version") && e.contains("--skip-version-check"),
        "{e}"
    );
    // An arch sid does not have.
    let e = err(&rpx(
        &state,
        &[
            "deploy",
            "tensile",
            "--from",
            sid.to_str().unwrap(),
            "--arch",
            "gfx1036",
            "--into",
            torch.to_str().unwrap(),
            "--skip-version-check",
        ],
    ));
    assert!(
        e.contains("no gfx1036 files") && e.contains("gfx1010"),
        "{e}"
    );
    let _ = rp;
}

/// A symbolic link inside the tree never carries a change out of it (issue 13's
/// reproducer), at any depth and for every kind of step; a tree holding system paths
/// needs --system for them.
#[test]
fn symlinked_parents_never_lead_out_of_the_tree() {
    let d = tempfile::tempdir().unwrap();
    let state = d.path().join("state");
    let outside = d.path().join("outside");
    write(&outside.join("victim"), b"keep");
    write(&outside.join("b/victim"), b"keep");
    let before = snapshot(&outside);
    let src = d.path().join("payload");
    write(&src, b"new");
    for depth in ["", "a/", "a/b/"] {
        let tree = d.path().join(format!("tree{}", depth.len()));
        std::fs::create_dir_all(tree.join(depth)).unwrap();
        std::os::unix::fs::symlink(&outside, tree.join(depth).join("out")).unwrap();
        let tree_before = snapshot(&tree);
        for step in [
            format!("[[remove]]\ntarget = \"{depth}out/victim\"\n"),
            format!(
                "[[file]]\nsource = \"{}\"\ntarget = \"{depth}out/victim\"\n",
                src.display()
            ),
            format!(
                "[[file]]\nsource = \"{}\"\ntarget = \"{depth}out/b/new/x\"\n",
                src.display()
            ),
            format!("[[symlink]]\ntarget = \"{depth}out/link\"\nto = \"/etc/passwd\"\n"),
        ] {
            let plan = d.path().join("plan.toml");
            write(&plan, step.as_bytes());
            let e = err(&plan_into(&state, &plan, &tree));
            assert!(e.contains("is a symbolic link"), "{step}: {e}");
            assert_eq!(snapshot(&outside), before, "{step}");
            assert_eq!(snapshot(&tree), tree_before, "{step}");
        }
    }
    // --into / with a target under /usr: refused without --system (the root itself is a
    // system tree: refused before the plan's targets are read), nothing written.
    let plan = d.path().join("plan.toml");
    write(
        &plan,
        format!(
            "[[file]]\nsource = \"{}\"\ntarget = \"usr/lib/rocm-patch-test-never/x\"\n",
            src.display()
        )
        .as_bytes(),
    );
    let o = rpx(
        &state,
        &["deploy", "plan", plan.to_str().unwrap(), "--into", "/"],
    );
    let e = err(&o);
    assert!(e.contains("/ is a system path"), "{e}");
    assert!(!Path::new("/usr/lib/rocm-patch-test-never").exists());
}

/// A tampered store and forged journals (issue 13): rollback checks every stored original
/// before it restores anything; a journal with a bad hash or a path outside its tree is
/// named with the way out, `recover --abandon`, instead of a panic or an unlink; a FIFO
/// in the state directory blocks nothing.
#[test]
fn tampered_store_and_forged_journals() {
    let d = tempfile::tempdir().unwrap();
    let (tree, state) = (d.path().join("tree"), d.path().join("state"));
    write(&tree.join("lib/a.so"), b"original a");
    write(&d.path().join("new-a"), b"new a");
    let plan = d.path().join("p.toml");
    std::fs::write(
        &plan,
        "[[file]]\nsource = \"new-a\"\ntarget = \"lib/a.so\"\n",
    )
    .unwrap();
    ok(&plan_into(&state, &plan, &tree));
    // The stored original is changed behind our back: rollback refuses, changes nothing.
    let blob = walkdir::WalkDir::new(state.join("store"))
        .into_iter()
        .map(|e| e.unwrap().into_path())
        .find(|p| p.is_file())
        .unwrap();
    std::fs::set_permissions(&blob, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::write(&blob, b"tampered").unwrap();
    let e = err(&rpx(&state, &["rollback", "--last"]));
    assert!(e.contains("damaged") && e.contains("lib/a.so"), "{e}");
    assert_eq!(std::fs::read(tree.join("lib/a.so")).unwrap(), b"new a");
    // A one-character sha256 in the journal: named, with the way out; no panic, no unlink.
    let j = state.join("journal/000001.json");
    let text = std::fs::read_to_string(&j).unwrap();
    let forged = text.replacen(
        &format!(
            "\"sha256\": \"{}\"",
            blob.file_name().unwrap().to_string_lossy()
        ),
        "\"sha256\": \"a\"",
        1,
    );
    assert_ne!(forged, text);
    std::fs::write(&j, &forged).unwrap();
    for args in [&["rollback", "--last"][..], &["history"], &["recover"]] {
        let e = err(&rpx(&state, args));
        assert!(
            e.contains("000001.json")
                && e.contains("not 64 hex digits")
                && e.contains("recover --abandon 1"),
            "{args:?}: {e}"
        );
        assert!(!e.contains("panicked"), "{e}");
    }
    assert_eq!(std::fs::read(tree.join("lib/a.so")).unwrap(), b"new a");
    // A path outside the recorded tree is just as corrupt.
    let outside = text.replace(
        &tree
            .canonicalize()
            .unwrap()
            .join("lib/a.so")
            .display()
            .to_string(),
        "/etc/passwd",
    );
    std::fs::write(&j, &outside).unwrap();
    let e = err(&rpx(&state, &["history"]));
    assert!(e.contains("does not lie below"), "{e}");
    // The way out: set it aside; the store is kept, the paths are listed.
    let out = ok(&rpx(&state, &["recover", "--abandon", "1"]));
    assert!(
        out.contains("set aside") && out.contains("/etc/passwd"),
        "{out}"
    );
    assert!(blob.exists());
    ok(&rpx(&state, &["history"]));
    // A FIFO named like a journal: every command goes on (history names it).
    let fifo = state.join("journal/000002.json");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let t = Instant::now();
    let e = err(&rpx(&state, &["history"]));
    assert!(
        e.contains("000002.json") && e.contains("not a regular file"),
        "{e}"
    );
    let o = rpx(
        &state,
        &["doctor", "--sysroot", d.path().to_str().unwrap(), "--json"],
    );
    assert!(o.code == 0 || o.code == 1, "{o:?}");
    assert!(t.elapsed() < Duration::from_secs(20), "{:?}", t.elapsed());
}

/// Plan modes (issue 13): above 7777 refused with the plan line; setuid, setgid and
/// world-writable only with --allow-special-modes.
#[test]
fn plan_modes_are_checked() {
    let d = tempfile::tempdir().unwrap();
    let (tree, state) = (d.path().join("tree"), d.path().join("state"));
    std::fs::create_dir_all(&tree).unwrap();
    write(&d.path().join("src"), b"x");
    let plan = d.path().join("p.toml");
    std::fs::write(
        &plan,
        "# a plan\n[[file]]\nsource = \"src\"\ntarget = \"x\"\nmode = \"17777\"\n",
    )
    .unwrap();
    let e = err(&plan_into(&state, &plan, &tree));
    assert!(
        e.contains("p.toml:5") && e.contains("not a permission mode"),
        "{e}"
    );
    for m in ["4755", "2755", "0666"] {
        std::fs::write(
            &plan,
            format!("[[file]]\nsource = \"src\"\ntarget = \"x\"\nmode = \"{m}\"\n"),
        )
        .unwrap();
        let e = err(&plan_into(&state, &plan, &tree));
        assert!(e.contains("--allow-special-modes"), "{m}: {e}");
        assert!(!tree.join("x").exists());
    }
    let o = rpx(
        &state,
        &[
            "deploy",
            "plan",
            plan.to_str().unwrap(),
            "--into",
            tree.to_str().unwrap(),
            "--allow-special-modes",
        ],
    );
    ok(&o);
    assert_eq!(
        std::fs::metadata(tree.join("x")).unwrap().mode() & 0o7777,
        0o666
    );
}
