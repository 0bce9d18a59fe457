#!/usr/bin/env python3
"""Write kpack archives (docs/code-objects.md, "Kpack"; no producer exists on this machine).
zstd frames come from the zstd command-line tool, MessagePack is written by hand (standard
library only).

  kpack.py seed OUT              small archives of both schemes from fixtures/codeobj (fuzz seeds)
  kpack.py tree OUT LIBS CODEDIR TheRock-shaped site-packages from real code objects (*.co in
                                 CODEDIR, one per library and processor), and the same code
                                 objects as plain fat binaries, for scripts/bench-kpack.sh
  kpack.py big SITE MB           adds to SITE (a copy of fixtures/kpack/installed/*/site-packages,
                                 AMD's layout) one `none`-scheme archive per processor of
                                 fixtures/codeobj, named and keyed as AMD's splitter names them
                                 (torch/.kpack/torch_<arch>.kpack, lib/libtorch_hip.so#0/#1,
                                 lib/libc10_hip.so#0), each kernel a real code object padded
                                 with zeros, MB megabytes of archives in all: a venv as large as
                                 a real one, for scripts/bench-doctor.sh (timing only)
"""
import struct
import subprocess
import sys
from pathlib import Path


def mp(v):
    if isinstance(v, dict):
        out = bytes([0x80 | len(v)]) if len(v) < 16 else b"\xde" + struct.pack(">H", len(v))
        return out + b"".join(mp(k) + mp(x) for k, x in v.items())
    if isinstance(v, list):
        return bytes([0x90 | len(v)]) + b"".join(mp(x) for x in v)
    if isinstance(v, str):
        b = v.encode()
        return (bytes([0xA0 | len(b)]) if len(b) < 32 else b"\xd9" + bytes([len(b)])) + b
    return b"\xcf" + struct.pack(">Q", v)


def archive(kernels, scheme, family="gfx1010", arches=("gfx1010",)):
    head = b"KPAK" + struct.pack("<IQ", 1, 0)
    head += b"\0" * (64 - len(head))
    blob, toc, extra = b"", {}, {}
    if scheme == "zstd-per-kernel":
        blob = struct.pack("<I", len(kernels))
        for _, _, data in kernels:
            frame = subprocess.run(["zstd", "-q", "-c", "-3"], input=data, capture_output=True, check=True).stdout
            blob += struct.pack("<I", len(frame)) + frame
        extra = {"zstd_offset": 64, "zstd_size": len(blob)}
    else:
        blobs = []
        for _, _, data in kernels:
            blobs.append({"offset": 64 + len(blob), "size": len(data)})
            blob += data
        extra = {"blobs": blobs}
    for i, (binary, arch, data) in enumerate(kernels):
        toc.setdefault(binary, {})[arch] = {"type": "hsaco", "ordinal": i, "original_size": len(data)}
    table = {"format_version": 1, "group_name": "torch", "gfx_arch_family": family,
             "gfx_arches": list(arches), "compression_scheme": scheme, "toc": toc, **extra}
    body = head + blob
    return body[:8] + struct.pack("<Q", len(body)) + body[16:] + mp(table)



def seed(out):
    co = Path(__file__).resolve().parent.parent / "fixtures" / "codeobj"
    kernels = [("lib/libtorch_hip.so", "gfx1010", (co / "codeobj_co6_gfx1010.co").read_bytes()),
               ("lib/libtorch_hip.so", "gfx906", (co / "codeobj_co6_gfx906.co").read_bytes())]
    out.mkdir(parents=True, exist_ok=True)
    for scheme in ("zstd-per-kernel", "none"):
        (out / f"seed-{scheme}.kpack").write_bytes(archive(kernels, scheme))


def run(*cmd):
    subprocess.run(cmd, check=True, capture_output=True)


def tree(out, libs, codedir):
    """Per processor, the first LIBS code objects of CODEDIR (Tensile's *_gfxNNN.co); library
    i gets the i-th of each processor. Layouts written under OUT:
      kpack-zstd/, kpack-none/: site-packages/torch/lib/libbench_i.so (kpack'd host libraries)
          and site-packages/torch/.kpack/torch_<gfx>.kpack (one archive per processor; named,
          keyed (`lib/libbench_i.so#0`) and referenced (`../.kpack/torch_@GFXARCH@.kpack`) as
          AMD's splitter does: fixtures/kpack)
      plain-ccob/, plain-bundle/: site-packages/torch/lib/libbench_i.so with the code objects in
          .hip_fatbin as one compressed (CCOB, clang-offload-bundler-19 -compress) or plain bundle
    """
    by_arch = {}
    for f in sorted(codedir.glob("*.co")):
        by_arch.setdefault(f.stem.rsplit("_", 1)[1], []).append(f)
    arches = sorted(a for a, fs in by_arch.items() if len(fs) >= libs)
    work = out / "work"
    work.mkdir(parents=True, exist_ok=True)
    (work / "host.c").write_text("int bench_host(void) { return 0; }\n")
    run("gcc", "-shared", "-fPIC", "-o", str(work / "host.so"), str(work / "host.c"))
    total = 0
    for layout in ("kpack-zstd", "kpack-none", "plain-ccob", "plain-bundle"):
        lib = out / layout / "site-packages" / "torch" / "lib"
        lib.mkdir(parents=True, exist_ok=True)
    for i in range(libs):
        name = f"libbench_{i}.so"
        key = f"lib/{name}"
        ref = work / "ref"
        ref.write_bytes(mp({"kernel_name": key,
                            "kpack_search_paths": ["../.kpack/torch_@GFXARCH@.kpack"]}))
        for layout in ("kpack-zstd", "kpack-none"):
            run("objcopy", "--add-section", f".rocm_kpack_ref={ref}", str(work / "host.so"),
                str(out / layout / "site-packages/torch/lib" / name))
        cos = [by_arch[a][i] for a in arches]
        total += sum(c.stat().st_size for c in cos)
        targets = ",".join(["host-x86_64-unknown-linux-gnu"] + [f"hipv4-amdgcn-amd-amdhsa--{a}" for a in arches])
        inputs = ["-input=/dev/null"] + [f"-input={c}" for c in cos]
        for layout, extra in (("plain-ccob", ["-compress"]), ("plain-bundle", [])):
            b = work / f"{layout}.bin"
            run("clang-offload-bundler-19", "-type=o", "-bundle-align=4096", *extra,
                f"-targets={targets}", *inputs, f"-output={b}")
            run("objcopy", "--add-section", f".hip_fatbin={b}", str(work / "host.so"),
                str(out / layout / "site-packages/torch/lib" / name))
    for layout, scheme in (("kpack-zstd", "zstd-per-kernel"), ("kpack-none", "none")):
        kp = out / layout / "site-packages/torch/.kpack"
        kp.mkdir(parents=True, exist_ok=True)
        for a in arches:
            kernels = [(f"lib/libbench_{i}.so#0", a, by_arch[a][i].read_bytes()) for i in range(libs)]
            (kp / f"torch_{a}.kpack").write_bytes(archive(kernels, scheme, a, [a]))
    print(f"{libs} libraries x {len(arches)} processors ({' '.join(arches)}): "
          f"{libs * len(arches)} code objects, {total} bytes")


def big(site, mb):
    co = Path(__file__).resolve().parent.parent / "fixtures" / "codeobj"
    by_arch = {}
    for f in sorted(co.glob("codeobj_co6_*.co")):
        arch = f.stem[len("codeobj_co6_"):].split("_")[0]
        if arch != "gfx1010":  # the genuine gfx1010 archive stays as AMD's splitter wrote it
            by_arch[arch] = f.read_bytes()
    keys = ["lib/libtorch_hip.so#0", "lib/libtorch_hip.so#1", "lib/libc10_hip.so#0"]
    each = mb * (1 << 20) // (len(by_arch) * len(keys))
    kp = site / "torch" / ".kpack"
    kp.mkdir(parents=True, exist_ok=True)
    for arch, data in by_arch.items():
        padded = data + b"\0" * max(0, each - len(data))
        kernels = [(k, arch, padded) for k in keys]
        (kp / f"torch_{arch}.kpack").write_bytes(archive(kernels, "none", arch, [arch]))
    print(f"{len(by_arch)} archives of {len(keys)} kernels, {each * len(keys) * len(by_arch) >> 20} MiB")


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "seed":
        seed(Path(sys.argv[2]))
    elif len(sys.argv) == 4 and sys.argv[1] == "big":
        big(Path(sys.argv[2]), int(sys.argv[3]))
    elif len(sys.argv) == 5 and sys.argv[1] == "tree":
        tree(Path(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4]))
    else:
        sys.exit(__doc__)
