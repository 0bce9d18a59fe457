//! `rocm-patch explain` on real error messages quoted in upstream issue threads (each case
//! names its source), and variants with other GPUs, nodes, addresses, paths and versions, colour codes, CRLF line
//! ends and progress bars, plus a large stream for the memory bound.

mod common;

use common::cli;
use common::machine::{AmdGpu, Machine};
use rp_report::ExplainReport;
use std::io::Write;
use std::process::{Command, Stdio};

/// Run explain with stdin `log` and exactly `env`; returns (exit, json).
fn explain(log: &[u8], env: &[(&str, &str)], args: &[&str]) -> (i32, ExplainReport) {
    let mut c = cli().env_clear().arg("explain").arg("--json").args(args);
    if !args.iter().any(|a| a.starts_with("--sysroot")) {
        c = c.arg("--no-machine");
    }
    c.envs(env.iter().copied()).stdin(log).json()
}

fn primary(log: &str) -> String {
    explain(log.as_bytes(), &[], &[])
        .1
        .primary_cause
        .unwrap_or_else(|| "null".to_string())
}

/// `explain --no-machine --json FILE`, the environment empty.
fn explain_file(p: &std::path::Path) -> ExplainReport {
    cli()
        .env_clear()
        .args(["explain", "--no-machine", "--json"])
        .arg(p)
        .json()
        .1
}

/// docs/rdna1.md, verbatim, with the cause each must get without an override in force.
const SAMPLES: &[(&str, &str)] = &[
    ("HSA_STATUS_ERROR_MEMORY_APERTURE_VIOLATION: The agent attempted to access memory beyond the largest legal address. code: 0x29", "memory-access-fault"),
    ("Memory access fault by GPU node-1 (Agent handle: 0x55724b0d00b0) on address 0x7fca1be00000. Reason: Page not present or supervisor privilege.", "memory-access-fault"),
    ("Memory access fault by GPU node-2 on address (nil). Reason: unknown", "memory-access-fault"),
    ("\"hipErrorNoBinaryForGpu: Unable to find code object for all current devices!\"", "missing-code-object"),
    ("hip_code_object.cpp:92: guarantee(false && \"hipErrorNoBinaryForGpu: Coudn't find binary for current devices!\")", "missing-code-object"),
    ("RuntimeError: HIP error: invalid device function", "missing-code-object"),
    ("rocBLAS error: Cannot read /home/bc250/Desktop/stable-diffusion-webui/venv/lib/python3.10/site-packages/torch/lib/rocblas/library/TensileLibrary.dat: No such file or directory", "missing-tensile-library"),
    ("rocBLAS error: Could not load C:\\Program Files\\AMD\\ROCm\\6.1\\bin\\/rocblas/library/TensileLibrary_lazy_gfx1103.dat", "missing-tensile-library"),
    ("rocBLAS error: Could not initialize Tensile library", "missing-tensile-library"),
    ("rocblaslt error: Cannot read \"TensileLibrary_lazy_gfx1010.dat\"", "missing-tensile-library"),
    ("No compatible code objects found for: gfx1152, value of HIP_FORCE_SPIRV_CODEOBJECT: 0", "missing-code-object"),
    ("Missing CO for these ISAs -", "missing-code-object"),
    ("MIOpen Error: /MIOpen/src/hipoc/hipoc_program.cpp:300: Code object build failed. Source: naive_conv.cpp", "miopen-failure"),
    ("Warning: Attempting to use hipBLASLt on an unsupported architecture! Overriding blas backend to hipblas", "hipblaslt-unsupported"),
    ("error: use of undeclared identifier 'CK_BUFFER_RESOURCE_3RD_DWORD'", "unsupported-instruction"),
    ("[drm:amdgpu_job_timedout [amdgpu]] *ERROR* ring sdma0 timeout, signaled seq=16060, emitted seq=16062", "gpu-hang"),
    ("*ERROR* ring page1 timeout", "gpu-hang"),
    ("Segmentation fault (core dumped)", "unknown"),
];

#[test]
fn every_domain_sample_gets_its_cause() {
    for (line, cause) in SAMPLES {
        assert_eq!(&primary(line), cause, "{line}");
    }
}

#[test]
fn variants_do_not_change_the_cause() {
    let variants = [
        // Other nodes, handles, addresses.
        ("Memory access fault by GPU node-7 (Agent handle: 0x1) on address 0xdeadbeef000. Reason: Page not present or supervisor privilege.", "memory-access-fault"),
        // Other GPUs, paths and versions.
        ("rocBLAS error: Could not load /opt/rocm-7.0.2/lib/rocblas/library/TensileLibrary_lazy_gfx1012.dat", "missing-tensile-library"),
        ("No compatible code objects found for: gfx1010, value of HIP_FORCE_SPIRV_CODEOBJECT: 0", "missing-code-object"),
        ("MIOpen(HIP): Error [Compile] 'hiprtcCompileProgram(prog.get(), c_options.size(), c_options.data())' naive_conv.cpp: HIPRTC_ERROR_COMPILATION (6)", "miopen-failure"),
        ("[  123.456] amdgpu 0000:03:00.0: amdgpu: [gfxhub] page fault (src_id:0 ring:24 vmid:3 pasid:32769, for process python3 pid 4242 thread python3 pid 4242)", "memory-access-fault"),
        ("kernel: [drm:amdgpu_job_timedout [amdgpu]] *ERROR* ring gfx_0.0.0 timeout, signaled seq=1, emitted seq=3", "gpu-hang"),
        ("torch.OutOfMemoryError: HIP out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of 7.98 GiB", "out-of-memory"),
        ("hipErrorNoDevice", "kfd-inaccessible"),
        ("rocminfo: Unable to open /dev/kfd read-write: Permission denied", "kfd-inaccessible"),
        ("alice is not member of \"render\" group, the default DRM access group. Users must be a member of the \"render\" group or another DRM access group in order for ROCm applications to run successfully.", "kfd-inaccessible"),
        ("<inline asm>:1:2: error: instruction not supported on this GPU", "unsupported-instruction"),
        ("error: '__builtin_amdgcn_sdot2' needs target feature dot2-insts", "unsupported-instruction"),
        ("HSA_STATUS_ERROR_INVALID_ISA: The instruction set architecture is invalid.", "invalid-isa"),
        ("HSA_OVERRIDE_GFX_VERSION 10.3 is invalid", "invalid-isa"),
        ("RuntimeError: miopenStatusUnknownError", "miopen-failure"),
    ];
    for (line, cause) in variants {
        assert_eq!(primary(line), cause, "{line}");
    }
}

#[test]
fn colour_crlf_and_progress_bars() {
    let log = b"step 1\r\n 10%|#         | 1/10 [00:01<00:09]\r 20%|##        | 2/10\r\x1b[1;31mMemory access fault by GPU node-1 (Agent handle: 0x5) on address 0x7f. Reason: Page not present or supervisor privilege.\x1b[0m\r\n\x1b[33mWarning: Attempting to use hipBLASLt on an unsupported architecture! Overriding blas backend to hipblas\x1b[0m\r\n";
    let (code, v) = explain(log, &[], &[]);
    assert_eq!(code, 1);
    let e = &v.events[0];
    assert_eq!(e.cause, "memory-access-fault");
    assert_eq!(e.line, 2);
    assert!(e.text.starts_with("Memory access fault"), "{e:?}");
    assert_eq!(v.primary_cause.as_deref(), Some("memory-access-fault"));
    assert_eq!(v.events[1].cause, "hipblaslt-unsupported");
}

#[test]
fn an_override_turns_a_memory_fault_into_a_foreign_isa() {
    let fault = "Memory access fault by GPU node-1 (Agent handle: 0x55724b0d00b0) on address 0x7fca1be00000. Reason: Page not present or supervisor privilege.\n";
    // Evidence in the log, even after the fault.
    let log = format!("{fault}+ export HSA_OVERRIDE_GFX_VERSION=10.3.0\n");
    let (_, v) = explain(log.as_bytes(), &[], &[]);
    assert_eq!(v.primary_cause.as_deref(), Some("override-foreign-isa"));
    assert_eq!(
        v.override_evidence[0],
        "-:2: HSA_OVERRIDE_GFX_VERSION=10.3.0"
    );
    // In the environment.
    let (_, v) = explain(
        fault.as_bytes(),
        &[("HSA_OVERRIDE_GFX_VERSION", "10.3.0")],
        &[],
    );
    assert_eq!(v.primary_cause.as_deref(), Some("override-foreign-isa"));
    // Given with --env.
    let (_, v) = explain(
        fault.as_bytes(),
        &[],
        &["--env", "HSA_OVERRIDE_GFX_VERSION_1=10.3.0"],
    );
    assert_eq!(v.primary_cause.as_deref(), Some("override-foreign-isa"));
    // Without: a plain memory fault.
    assert_eq!(primary(fault), "memory-access-fault");
}

#[test]
fn primary_cause_and_exit_codes() {
    // The most specific cause wins over the hang that followed it.
    let log = "RuntimeError: HIP error: invalid device function\n[drm:amdgpu_job_timedout [amdgpu]] *ERROR* ring gfx_0.0.0 timeout, signaled seq=1, emitted seq=3\n";
    let (code, v) = explain(log.as_bytes(), &[], &[]);
    assert_eq!(code, 1);
    assert_eq!(v.primary_cause.as_deref(), Some("missing-code-object"));
    // A benign warning alone: primary, exit 0.
    let (code, v) = explain(
        b"Warning: Attempting to use hipBLASLt on an unsupported architecture! Overriding blas backend to hipblas\n",
        &[],
        &[],
    );
    assert_eq!(code, 0);
    assert_eq!(v.primary_cause.as_deref(), Some("hipblaslt-unsupported"));
    // Nothing recognised.
    let (code, v) = explain(b"all good\nloss 0.1\n", &[], &[]);
    assert_eq!(code, 0);
    assert_eq!(v.primary_cause, None);
    assert_eq!(v.events.len(), 0);
    // Repeats fold into one event with a count.
    let log = "Memory access fault by GPU node-1 (Agent handle: 0x1) on address 0x10. Reason: x\n"
        .repeat(5)
        + "Memory access fault by GPU node-2 (Agent handle: 0x2) on address 0x20. Reason: x\n";
    let (_, v) = explain(log.as_bytes(), &[], &[]);
    assert_eq!(v.events.len(), 1);
    assert_eq!(v.events[0].count, 6);
}

#[test]
fn the_fix_uses_the_machine() {
    let d = tempfile::tempdir().unwrap();
    let root = Machine::new(&d.path().join("root"))
        .cpu_node(0, 8)
        .amd_gpu(&AmdGpu::rx5600xt(1, 0x03))
        .driver_ok()
        .finish();
    let fault = b"HSA_STATUS_ERROR_MEMORY_APERTURE_VIOLATION: The agent attempted to access memory beyond the largest legal address. code: 0x29\n";
    let (_, v) = explain(
        fault,
        &[("HSA_OVERRIDE_GFX_VERSION", "10.3.0")],
        &["--sysroot", root.to_str().unwrap()],
    );
    assert_eq!(v.primary_cause.as_deref(), Some("override-foreign-isa"));
    assert_eq!(v.gpus[0], "gfx1010 (AMD Radeon RX 5600 XT)");
    let fix = &v.events[0].fix;
    assert!(fix.contains("torch[device-gfx1010]"), "{fix}");
    assert!(!fix.contains("=10.3.0"), "{fix}");
    // The GPU named in the log wins over the machine's.
    let (_, v) = explain(
        b"No compatible code objects found for: gfx1152, value of HIP_FORCE_SPIRV_CODEOBJECT: 0\n",
        &[],
        &["--sysroot", root.to_str().unwrap()],
    );
    assert!(v.events[0].fix.contains("device-gfx1152"));
}

#[test]
fn files_binary_garbage_and_unreadable_inputs() {
    let d = tempfile::tempdir().unwrap();
    let a = d.path().join("dmesg.txt");
    std::fs::write(
        &a,
        b"\x00\x01\xff\xfe garbage\n[ 1.0] amdgpu 0000:03:00.0: amdgpu: GPU reset begin!\n",
    )
    .unwrap();
    let (code, v): (_, ExplainReport) = cli()
        .env_clear()
        .args(["explain", "--json", "--no-machine"])
        .arg(&a)
        .arg(d.path().join("missing.log"))
        .json();
    assert_eq!(code, 2);
    assert_eq!(v.events[0].cause, "gpu-hang");
    assert_eq!(v.events[0].line, 2);
    assert!(v.errors[0].contains("missing.log"));
}

#[test]
fn a_large_log_streams_in_bounded_memory() {
    // 512 MiB of noise with faults sprinkled in, piped through stdin; peak RSS is read by
    // GNU time (scripts/test.sh installs it).
    let mut c = Command::new("/usr/bin/time");
    c.args([
        "-f",
        "%M",
        env!("CARGO_BIN_EXE_rocm-patch"),
        "explain",
        "--json",
        "--no-machine",
    ])
    .env_clear()
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = c.spawn().expect("/usr/bin/time (Debian package time)");
    let mut stdin = child.stdin.take().unwrap();
    let w = std::thread::spawn(move || {
        let noise =
            "epoch 3 step 1234 loss 0.123456 lr 0.0001 throughput 512.3 samples/s ###########\n"
                .repeat(1000);
        let mut n = 0u64;
        let mut i = 0u64;
        while n < 512 << 20 {
            stdin.write_all(noise.as_bytes()).unwrap();
            n += noise.len() as u64;
            i += 1;
            let fault = format!("Memory access fault by GPU node-{} (Agent handle: 0x{i:x}) on address 0x{:x}. Reason: Page not present\n", i % 4, i * 4096);
            stdin.write_all(fault.as_bytes()).unwrap();
        }
    });
    let o = child.wait_with_output().unwrap();
    w.join().unwrap();
    assert_eq!(o.status.code(), Some(1));
    let v: ExplainReport = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v.lines > 6_000_000);
    assert_eq!(v.events.len(), 1, "repeats fold");
    assert!(v.events[0].count > 6000);
    let rss_kib: u64 = String::from_utf8_lossy(&o.stderr)
        .trim()
        .lines()
        .last()
        .unwrap()
        .parse()
        .unwrap();
    assert!(rss_kib < 32 * 1024, "peak RSS {rss_kib} KiB");
}

/// A log that shows what the machine does not (issue 13): a pytorch.org ROCm build next
/// to an RX 5600 XT, or a runtime reporting gfx1030 on it, then a fault, is an override
/// in force where the program started; the new kernel and assembler signatures.
#[test]
fn the_log_itself_shows_the_override() {
    let d = tempfile::tempdir().unwrap();
    let run = |log: &str| {
        let p = d.path().join("log.txt");
        std::fs::write(&p, log).unwrap();
        explain_file(&p)
    };
    let v = run("torch 2.3.1+rocm6.0\ndevice: AMD Radeon RX 5600 XT\nMemory access fault by GPU node-1 (Agent handle: 0x55) on address 0x7f. Reason: Page not present or supervisor privilege.\n");
    assert_eq!(
        v.primary_cause.as_deref(),
        Some("override-foreign-isa"),
        "{v:#?}"
    );
    let ev = serde_json::to_string(&v.override_evidence).unwrap();
    assert!(
        ev.contains("2.3.1+rocm6.0") && ev.contains("gfx1010"),
        "{ev}"
    );
    assert!(
        ev.contains("systemd service") && ev.contains("launcher"),
        "{ev}"
    );
    let v = run("  Name:                    gfx1030\n  Marketing Name:          AMD Radeon RX 5600 XT\nHSA_STATUS_ERROR_MEMORY_APERTURE_VIOLATION\n");
    assert_eq!(
        v.primary_cause.as_deref(),
        Some("override-foreign-isa"),
        "{v:#?}"
    );
    // Without a fault it is only what it is.
    let v = run("torch 2.3.1+rocm6.0\nAMD Radeon RX 5600 XT\n");
    assert!(v.primary_cause.is_none(), "{v:#?}");
    // Kernel and assembler messages.
    for (line, cause) in [
        ("[ 249.9] amdgpu 0000:0c:00.0: amdgpu: IH ring buffer overflow (0x000844C0, 0x00004A00, 0x000044D0)", "gpu-hang"),
        ("[73314.8] amdgpu 0000:c5:00.0: amdgpu: MES failed to respond to msg=REMOVE_QUEUE", "gpu-hang"),
        ("batchnorm.s:12:3: error: dpp variant of this instruction is not supported", "isa-feature-missing"),
    ] {
        let v = run(&format!("{line}\n"));
        assert_eq!(v.primary_cause.as_deref(), Some(cause), "{line}: {v:#?}");
    }
}

/// Issue 28: the real logs of fixtures/logs (public issue threads, sources in SOURCES.md)
/// through the CLI, each with its expected primary cause, and the JSON carries the cause's
/// fix as steps.
#[test]
fn real_logs_get_their_causes() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/logs");
    let expected = std::fs::read_to_string(dir.join("EXPECTED")).unwrap();
    let mut wrong = Vec::new();
    let mut n = 0;
    for l in expected
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let (file, cause) = l.split_once(' ').unwrap();
        let v = explain_file(&dir.join(file));
        n += 1;
        if v.primary_cause.as_deref() != Some(cause.trim()) {
            wrong.push(format!(
                "{file}: expected {cause}, got {:?}",
                v.primary_cause
            ));
        }
        let fix = v.causes.first().map_or("", |c| c.fix.as_str());
        if !fix.contains('\n') {
            wrong.push(format!("{file}: the fix has no steps: {fix}"));
        }
    }
    assert!(n >= 30, "{n} logs");
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Issue 28's messages, one a line, and the two inferences: "no GPU" with a visibility
/// variable in the log is a hidden GPU; a DPP broadcast rejected inside MIOpen's runtime
/// compile is the batch-norm bug even when only "miopenStatusUnknownError" says MIOpen.
#[test]
fn issue_28_messages() {
    for (log, cause) in [
        ("[  114.3] amdgpu 0000:83:00.0: amdgpu: KFD node 0 ih_fifo overflow", "gpu-hang"),
        ("[  114.303173] amdgpu: failed to add hardware queue to MES, doorbell=0x1202", "gpu-hang"),
        ("error: Illegal instruction detected: Invalid dpp_ctrl value: broadcasts are not supported on GFX10+", "isa-feature-missing"),
        ("kfd kfd: amdgpu: skipped device 1002:67df, PCI rejects atomics 730<0\nRuntimeError: No HIP GPUs are available", "pcie-atomics-missing"),
        ("[    3.1] amdgpu 0000:03:00.0: Direct firmware load for amdgpu/navi10_gpu_info.bin failed with error -2\n[    3.2] amdgpu 0000:03:00.0: amdgpu: Fatal error during GPU init", "firmware-missing"),
        ("[    3.2] amdgpu 0000:03:00.0: amdgpu: Fatal error during GPU init", "driver-init-failed"),
        ("python3[4242]: segfault at 20 ip 00007f44bdeb40a7 sp 00007f417aa34010 error 4 in libamdhip64.so.6[7f44bde00000+3f3000]", "runtime-crash"),
        ("RuntimeError: HIP error: invalid device ordinal\nhipErrorInvalidDevice", "gpu-hidden"),
        ("$ export HIP_VISIBLE_DEVICES=2\nRuntimeError: No HIP GPUs are available", "gpu-hidden"),
        ("RuntimeError: No HIP GPUs are available", "kfd-inaccessible"),
        ("MIOpen Error: /long_pathname_so_that_rpms_can_package_the_debug_info/src/extlibs/MIOpen/src/hipoc/hipoc_program.cpp:300: Code object build failed. Source: MIOpenBatchNormFwdTrainSpatial.cl", "miopen-batchnorm-dpp-gfx101x"),
        ("\x1b[33mMIOpen(HIP): Warning [BuildHip] <inline asm>:14:20: error: not a valid operand.\x1b[0m\r\nv_add_f32 v4 v4 v4 row_bcast:15 row_mask:0xa\r\nRuntimeError: miopenStatusUnknownError\r\n", "miopen-batchnorm-dpp-gfx101x"),
    ] {
        let (_, v) = explain(log.as_bytes(), &[], &[]);
        assert_eq!(v.primary_cause.as_deref(), Some(cause), "{log}: {v:#?}");
    }
    // The batch-norm cause's fix: build and deploy, or turn MIOpen off.
    let (_, v) = explain(b"Source: MIOpenBatchNormFwdTrainSpatial.cl\n", &[], &[]);
    let fix = v.causes[0].fix.clone();
    assert!(
        fix.contains("rocm-patch build miopen --gpu")
            && fix.contains("torch.backends.cudnn.enabled = False"),
        "{fix}"
    );
}

/// Issue 29: explain rates an override as doctor does (`11.0.0` on a gfx1103 7840U is
/// risky, not foreign ISA), and uses an override that only a startup file sets.
#[test]
fn overrides_are_rated_as_doctor_rates_them_and_startup_files_count() {
    let fault = "Memory access fault by GPU node-1 (Agent handle: 0x55724b0d00b0) on address 0x7fca1be00000. Reason: Page not present or supervisor privilege.\n";
    let d = tempfile::tempdir().unwrap();
    // A Ryzen 7 7840U (Phoenix, GC 11.0.3 → gfx1103).
    let phoenix = AmdGpu::phoenix_7840u(1, 0xc1);
    let root = Machine::new(&d.path().join("apu"))
        .cpu_node(0, 16)
        .amd_gpu(&phoenix)
        .driver_ok()
        .finish();
    let sysroot = format!("--sysroot={}", root.display());
    let log = format!("+ export HSA_OVERRIDE_GFX_VERSION=11.0.0\n{fault}");
    let (_, v) = explain(log.as_bytes(), &[], &[&sysroot]);
    assert_ne!(
        v.primary_cause.as_deref(),
        Some("override-foreign-isa"),
        "{v:#?}"
    );
    assert_eq!(
        v.primary_cause.as_deref(),
        Some("memory-access-fault"),
        "{v:#?}"
    );
    // The same override on an RX 5600 XT is foreign ISA; here it comes from ~/.bashrc
    // alone (nothing in the log or the environment).
    // The tree's passwd gives this process's uid a home there (explain reads the startup
    // files of the user it runs as).
    let uid = rp_sys::os::uid();
    let root = Machine::new(&d.path().join("rdna1"))
        .cpu_node(0, 12)
        .amd_gpu(&AmdGpu::rx5600xt(1, 3))
        .driver_ok()
        .file(
            "home/me/.bashrc",
            "export HSA_OVERRIDE_GFX_VERSION=10.3.0\n",
        )
        .file(
            "etc/passwd",
            &format!("me:x:{uid}:{uid}::/home/me:/bin/bash\n"),
        )
        .finish();
    let sysroot = format!("--sysroot={}", root.display());
    let (_, v) = explain(fault.as_bytes(), &[], &[&sysroot]);
    assert_eq!(
        v.primary_cause.as_deref(),
        Some("override-foreign-isa"),
        "{v:#?}"
    );
    let ev = serde_json::to_string(&v.override_evidence).unwrap();
    assert!(
        ev.contains(".bashrc:1 sets HSA_OVERRIDE_GFX_VERSION=10.3.0"),
        "{ev}"
    );
}
