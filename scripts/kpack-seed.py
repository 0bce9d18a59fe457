#!/usr/bin/env python3
"""Write small kpack archives (both schemes) from the repository's code objects, as fuzz
seeds: kpack-seed.py OUT_DIR. The format is in docs/code-objects.md ("Kpack"); zstd frames
come from the zstd command-line tool, MessagePack is written by hand (standard library only).
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


def archive(kernels, scheme):
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
    table = {"format_version": 1, "group_name": "torch", "gfx_arch_family": "gfx1010",
             "gfx_arches": ["gfx1010"], "compression_scheme": scheme, "toc": toc, **extra}
    body = head + blob
    return body[:8] + struct.pack("<Q", len(body)) + body[16:] + mp(table)


co = Path(__file__).resolve().parent.parent / "fixtures" / "codeobj"
kernels = [("lib/libtorch_hip.so", "gfx1010", (co / "codeobj_co6_gfx1010.co").read_bytes()),
           ("lib/libtorch_hip.so", "gfx906", (co / "codeobj_co6_gfx906.co").read_bytes())]
out = Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
for scheme in ("zstd-per-kernel", "none"):
    (out / f"seed-{scheme}.kpack").write_bytes(archive(kernels, scheme))
