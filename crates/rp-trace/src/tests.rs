use super::*;
use crate::read::stream;
use crate::summary::runs_on;
use rp_report::TracePolicy;
use std::path::Path;

const TRACE: &str = concat!(
    "{\"t\":1000,\"tid\":1,\"ev\":\"start\",\"pid\":1,\"exe\":\"/x\",\"policy\":\"none\",\"format\":1,\"clock\":\"tsc\"}\n",
    "{\"t\":1000,\"tid\":1,\"ev\":\"clock\",\"tsc\":1000,\"ns\":500}\n",
    "{\"t\":3000,\"tid\":2,\"ev\":\"clock\",\"tsc\":3000,\"ns\":1500}\n",
    "{\"t\":2000,\"tid\":1,\"ev\":\"fatbin\",\"fatbin\":0,\"magic\":\"HIPF\",\"lib\":\"/l/libtorch_hip.so\",\"compressed\":true,\"targets\":[\"gfx1030\",\"gfx1100\"]}\n",
    "{\"t\":3000,\"tid\":1,\"ev\":\"kernel\",\"k\":0,\"api\":\"__hipRegisterFunction\",\"name\":\"_Z3addPf\",\"fatbin\":0}\n",
    "{\"t\":4000,\"tid\":1,\"ev\":\"alloc\",\"api\":\"hipHostMalloc\",\"size\":64,\"ptr\":9,\"flags\":2147483648,\"flag_names\":\"NonCoherent\",\"asked\":0,\"asked_names\":\"Default\",\"ret\":0}\n",
    "{\"t\":5000,\"tid\":1,\"ev\":\"launch\",\"api\":\"hipLaunchKernel\",\"k\":0,\"grid\":[1,1,1],\"block\":[64,1,1],\"shared\":0}\n",
    "{\"t\":6000,\"tid\":1,\"ev\":\"error\",\"api\":\"hipMalloc\",\"ret\":2}\n",
    "{\"t\":7000,\"tid\":1,\"ev\":\"launch\",\"api\":\"hipLaunchKernel\",\"k\":0,\"grid\":[2,1,1],\"block\":[64,1,1],\"shared\":0}\n",
);

#[test]
fn a_killed_process_is_summarised_up_to_its_last_record() {
    let mut data = TRACE.as_bytes().to_vec();
    // What a killed process leaves: a half-copied record and zeros.
    data.extend_from_slice(b"{\"t\":8000,\"tid\":1,\"ev\":\"lau");
    data.extend_from_slice(&[0u8; 64]);
    let p = parse(Path::new("tr"), &data);
    assert_eq!((p.records, p.bad_lines, p.exited), (9, 1, false));
    let r = summarize(&[p], Some(&"gfx1010".parse().unwrap()));
    assert!(r.ended_abnormally);
    assert_eq!(r.launches, 2);
    assert_eq!(r.kernels[0].name, "_Z3addPf");
    assert_eq!(r.kernels[0].launches, 2);
    assert_eq!(r.last_launches.last().unwrap().grid, [2, 1, 1]);
    // Ticks at 0.5 ns each: the launch at t=7000 is 3000 ns after the start.
    assert_eq!(r.last_launches.last().unwrap().ms, Some(0.003));
    assert_eq!(r.fatbins[0].runs_here, Some(false));
    assert_eq!(r.changed_by_policy, 1);
    assert_eq!(r.errors[0].name.as_deref(), Some("hipErrorOutOfMemory"));
    let ev = evidence(std::slice::from_ref(&r));
    assert!(
        ev.iter().any(|l| l.contains("`_Z3addPf` from /l/libtorch_hip.so, whose fat binary had no code for gfx1010 (it holds gfx1030, gfx1100)")),
        "{ev:?}"
    );
    let mut seeded = r.clone();
    seeded.policy = TracePolicy::Seed;
    let ev = evidence(&[r, seeded]);
    assert!(ev
        .iter()
        .any(|l| l.contains("not a memory-coherence problem")));
}

#[test]
fn gfx1030_code_runs_on_gfx1030_and_not_on_gfx1010() {
    let t = vec!["gfx1030".to_string()];
    let g = |s: &str| s.parse::<rp_kb::TargetId>().unwrap();
    assert!(runs_on(&g("gfx1030"), &t));
    assert!(!runs_on(&g("gfx1010"), &t));
}

#[test]
fn children_files_are_found() {
    let d = tempfile::tempdir().unwrap();
    let base = d.path().join("tr.jsonl");
    for n in ["tr.jsonl", "tr.jsonl.123", "tr.jsonl.x", "tr.jsonl.99"] {
        std::fs::write(d.path().join(n), "").unwrap();
    }
    let f: Vec<String> = files(&base)
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(f, ["tr.jsonl", "tr.jsonl.123", "tr.jsonl.99"]);
    // A process image that replaced a traced one (exec) writes `.<pid>.<n>`.
    std::fs::write(d.path().join("tr.jsonl.123.1"), "").unwrap();
    std::fs::write(d.path().join("tr.jsonl.123.x"), "").unwrap();
    assert_eq!(files(&base).len(), 4);
}

/// Lines that span the read buffer, zeros inside and after records, and a line
/// longer than the limit: every record is read once, the limit holds, and the end of
/// the content is where the last record ends.
#[test]
fn streaming_reads_lines_across_buffers_and_skips_zeros() {
    let mut data = Vec::new();
    let mut n = 0;
    while data.len() < 3 * BUF {
        data.extend_from_slice(
            format!(
                "{{\"t\":{n},\"tid\":1,\"ev\":\"free\",\"api\":\"hipFree\",\"ptr\":0,\"ret\":0}}\n"
            )
            .as_bytes(),
        );
        n += 1;
    }
    // A record whose copy was cut short by a kill: zeros inside it.
    data.extend_from_slice(b"{\"t\":1,\"tid\":1,\"ev\":\"fr\0\0ee\"}\n");
    // A line over the limit, then the zeros a dead writer leaves.
    data.extend(std::iter::repeat_n(b'x', MAX_LINE + 10));
    data.push(b'\n');
    let content = data.len() as u64;
    data.extend(std::iter::repeat_n(0u8, 2 * BUF + 17));
    let mut lines = 0;
    let mut longest = 0;
    let end = stream(&data[..], None, &mut |_, _, l| {
        lines += 1;
        longest = longest.max(l.len());
    })
    .unwrap();
    assert_eq!(end, content);
    assert_eq!(
        lines,
        n + 3,
        "records, the zeroed one, the long one, the zeros"
    );
    assert_eq!(longest, MAX_LINE + 1);
    let p = parse(Path::new("z"), &data);
    assert_eq!(p.records, n as u64 + 1);
    assert_eq!(p.bad_lines, 1);
    let r = summarize(&[p], None);
    assert_eq!(r.frees, n as u64 + 1);
}

/// A forked child inherits its parent's kernel ids: its launches are named from the
/// parent's registration; a kernel registered nowhere says so.
#[test]
fn a_childs_launches_are_named_from_its_parents_registrations() {
    let parent = concat!(
        "{\"t\":1,\"tid\":1,\"ev\":\"start\",\"pid\":100,\"ppid\":1,\"policy\":\"none\",\"format\":2,\"clock\":\"ns\",\"env\":{\"ROCM_KPACK_DEBUG\":\"1\"}}\n",
        "{\"t\":2,\"tid\":1,\"ev\":\"fatbin\",\"fatbin\":0,\"magic\":\"HIPF\",\"lib\":\"/l/libk.so\",\"targets\":[\"gfx1030\"]}\n",
        "{\"t\":3,\"tid\":1,\"ev\":\"kernel\",\"k\":0,\"api\":\"__hipRegisterFunction\",\"name\":\"_Z1kv\",\"fatbin\":0}\n",
        "{\"t\":4,\"tid\":1,\"ev\":\"launch\",\"api\":\"hipLaunchKernel\",\"k\":0,\"grid\":[1,1,1],\"block\":[1,1,1],\"shared\":0}\n",
        "{\"t\":5,\"tid\":1,\"ev\":\"exit\"}\n",
    );
    let child = concat!(
        "{\"t\":10,\"tid\":2,\"ev\":\"start\",\"pid\":101,\"ppid\":100,\"policy\":\"none\",\"format\":2,\"clock\":\"ns\",\"env\":{}}\n",
        "{\"t\":11,\"tid\":2,\"ev\":\"launch\",\"api\":\"hipLaunchKernel\",\"k\":0,\"grid\":[2,1,1],\"block\":[1,1,1],\"shared\":0}\n",
        "{\"t\":12,\"tid\":2,\"ev\":\"launch\",\"api\":\"hipLaunchKernel\",\"k\":7,\"grid\":[3,1,1],\"block\":[1,1,1],\"shared\":0}\n",
    );
    let procs = [
        parse(Path::new("tr"), parent.as_bytes()),
        parse(Path::new("tr.101"), child.as_bytes()),
    ];
    let r = summarize(&procs, Some(&"gfx1030".parse().unwrap()));
    assert_eq!(r.launches, 3);
    assert_eq!(r.kernels[0].name, "_Z1kv");
    assert_eq!(r.kernels[0].lib.as_deref(), Some("/l/libk.so"));
    assert_eq!(r.kernels[0].launches, 2);
    assert_eq!(
        r.last_launches.last().unwrap().kernel,
        "kernel #7 (its registration was not recorded)"
    );
    assert_eq!(r.last_launches[1].grid, [2, 1, 1]);
    assert_eq!(r.last_launches[1].lib.as_deref(), Some("/l/libk.so"));
    assert!(r.ended_abnormally);
    assert!(
        r.notes.iter().any(|n| n
            == "ROCM_KPACK_DEBUG=1 was in force (in 1 of 2 processes): the kpack loader logged every archive and kernel lookup to stderr"),
        "{:?}",
        r.notes
    );
}

/// Per-process state stays bounded: more allocation kinds than the limit are not
/// kept, and the summary says so.
#[test]
fn per_process_state_is_bounded() {
    let mut data = String::new();
    for i in 0..(MAX_KINDS + 50) {
        data.push_str(&format!(
            "{{\"t\":{i},\"tid\":1,\"ev\":\"alloc\",\"api\":\"hipExtMallocWithFlags\",\"size\":1,\"flag_names\":\"0x{i:x}\",\"ret\":0}}\n"
        ));
    }
    for i in 0..(MAX_ADDRS as u64 + 10) {
        data.push_str(&format!(
            "{{\"t\":1,\"tid\":1,\"ev\":\"launch\",\"api\":\"hipLaunchKernel\",\"fn\":{i},\"grid\":[1,1,1],\"block\":[1,1,1]}}\n"
        ));
    }
    let p = parse(Path::new("b"), data.as_bytes());
    assert_eq!(p.st.allocs.len(), MAX_KINDS);
    assert_eq!(p.st.addrs.len(), MAX_ADDRS);
    let r = summarize(&[p], None);
    assert_eq!(r.launches, MAX_ADDRS as u64 + 10);
    assert!(
        r.notes.iter().any(|n| n.starts_with(
            "more allocation kinds, unregistered kernel addresses than the summary keeps"
        )),
        "{:?}",
        r.notes
    );
}

/// A record file of a format 2 writer that died is cut to its records once no
/// process holds its lock; while one does, it is left alone.
#[test]
fn a_dead_writers_file_is_cut_and_a_live_ones_is_not() {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("tr.jsonl");
    let recs = "{\"t\":1,\"tid\":1,\"ev\":\"start\",\"pid\":5,\"format\":2,\"clock\":\"ns\"}\n{\"t\":2,\"tid\":1,\"ev\":\"free\"}\n";
    let mut data = recs.as_bytes().to_vec();
    data.extend(std::iter::repeat_n(0u8, 65536));
    std::fs::write(&f, &data).unwrap();
    // A live writer: holds the lock.
    let w = std::fs::File::open(&f).unwrap();
    w.lock().unwrap();
    let p = read(&f).unwrap();
    assert_eq!((p.records, p.cut), (2, None));
    assert_eq!(std::fs::metadata(&f).unwrap().len(), data.len() as u64);
    drop(w);
    let p = read(&f).unwrap();
    assert_eq!(p.cut, Some((data.len() as u64, recs.len() as u64)));
    assert_eq!(std::fs::read_to_string(&f).unwrap(), recs);
    // A format 1 writer never locked: its file is never cut.
    let old = d.path().join("old.jsonl");
    let mut data = b"{\"t\":1,\"tid\":1,\"ev\":\"start\",\"format\":1}\n".to_vec();
    data.extend(std::iter::repeat_n(0u8, 4096));
    std::fs::write(&old, &data).unwrap();
    assert_eq!(read(&old).unwrap().cut, None);
    assert_eq!(std::fs::metadata(&old).unwrap().len(), data.len() as u64);
}
