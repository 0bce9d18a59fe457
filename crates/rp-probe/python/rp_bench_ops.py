"""rocm-patch bench: the benchmarks, run by rp_probe_worker.py --bench.

A benchmark is a function bench_<name>(torch, dev, h): it builds its inputs, then returns
h.measure(fn, work, unit, peak) for the callable it times, or raises h.Skip when the
operation does not fit this device. `work` is FLOPs (unit "TFLOP/s") or bytes moved
(unit "GB/s"); `peak` names the knowledge-base peak it is compared with (fp32, tf32,
fp16, bf16, bandwidth) or None.

Method (README, "Measure speed"): one call, then warm-up calls for at least 50 ms; the
number of calls per timed repetition is chosen so that one repetition takes about 20 ms
(launch overhead is then amortised, as torch.utils.benchmark does); `repeat` timed
repetitions, each between two CUDA/HIP events on a GPU or perf_counter around a
synchronised loop on the CPU; the median, minimum and maximum per call are reported.
"""

import math
import time

GIB = 1 << 30


class Harness:
    def __init__(self, torch, dev, repeat, skip_cls):
        self.torch = torch
        self.dev = dev
        self.gpu = dev.startswith("cuda")
        self.repeat = max(1, int(repeat))
        self.Skip = skip_cls
        # On the CPU the run is kept short: it is the reference, not the subject.
        self.rep_target = 0.02 if self.gpu else 0.05
        self.budget = 20.0 if self.gpu else 8.0

    def sync(self):
        if self.gpu:
            self.torch.cuda.synchronize()

    def free_bytes(self):
        if self.gpu:
            free, _total = self.torch.cuda.mem_get_info()
            return free
        return None

    def need(self, nbytes, what):
        """Skip when the device has less than twice `nbytes` free."""
        free = self.free_bytes()
        if free is not None and free < 2 * nbytes:
            raise self.Skip(f"{what} needs {nbytes / GIB:.1f} GiB; {free / GIB:.1f} GiB free")

    def gpu_only(self, what):
        if not self.gpu:
            raise self.Skip(f"{what} is a GPU path")

    def cpu_limit(self, work, what):
        if not self.gpu and work > 50e9:
            raise self.Skip(f"{what}: {work / 1e9:.0f} GFLOP a call is minutes on the CPU")

    def _time_calls(self, fn, calls):
        torch = self.torch
        if self.gpu:
            start = torch.cuda.Event(enable_timing=True)
            end = torch.cuda.Event(enable_timing=True)
            start.record()
            for _ in range(calls):
                fn()
            end.record()
            end.synchronize()
            return start.elapsed_time(end) / 1e3
        t = time.perf_counter()
        for _ in range(calls):
            fn()
        return time.perf_counter() - t

    def measure(self, fn, work, unit, peak, note=None):
        if unit not in ("TFLOP/s", "GB/s"):
            raise ValueError(f"h.measure: unit {unit!r} is not 'TFLOP/s' or 'GB/s'")
        if peak not in (None, "fp32", "tf32", "fp16", "bf16", "bandwidth"):
            raise ValueError(f"h.measure: peak {peak!r} is not fp32, tf32, fp16, bf16, bandwidth or None")
        self.sync()
        t = time.perf_counter()
        fn()
        self.sync()
        first = time.perf_counter() - t
        # Warm-up: at least three calls and 50 ms, within the budget.
        warm, calls, t0 = 0.0, 0, time.perf_counter()
        while calls < 3 or (warm < 0.05 and time.perf_counter() - t0 < self.budget / 4):
            warm += self._time_calls(fn, 1)
            calls += 1
            if first > self.budget / 4:
                break
        per_call = warm / calls
        inner = max(1, min(10000, math.ceil(self.rep_target / max(per_call, 1e-9))))
        reps = self.repeat
        # A slow operation gets fewer repetitions (at least 3) rather than a long run.
        if per_call * inner * reps > self.budget:
            reps = max(3, int(self.budget / max(per_call * inner, 1e-9)))
        samples = sorted(self._time_calls(fn, inner) / inner for _ in range(reps))
        median = samples[len(samples) // 2] if len(samples) % 2 else \
            (samples[len(samples) // 2 - 1] + samples[len(samples) // 2]) / 2
        scale = 1e12 if unit == "TFLOP/s" else 1e9
        out = {
            "unit": unit,
            "work": work,
            "peak": peak,
            "median_ms": median * 1e3,
            "min_ms": samples[0] * 1e3,
            "max_ms": samples[-1] * 1e3,
            "reps": len(samples),
            "inner": inner,
            "first_call_ms": first * 1e3,
            "rate": work / median / scale if median > 0 else None,
            "timer": "events" if self.gpu else "perf_counter",
        }
        if note:
            out["note"] = note
        return out


def _dtype(torch, name):
    return {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[name]


def _fp32_peak(torch, h, kind):
    """fp32 math may run as TF32 on NVIDIA tensor cores (torch's allow_tf32 switches)."""
    if not h.gpu or torch.version.hip:
        return "fp32", None
    allowed = (torch.backends.cuda.matmul.allow_tf32 if kind == "matmul"
               else torch.backends.cudnn.allow_tf32)
    if allowed:
        return "tf32", "fp32 inputs, TF32 math (torch.backends allow_tf32 is on)"
    return "fp32", None


def _matmul(n, dt):
    def bench(torch, dev, h):
        dtype = _dtype(torch, dt)
        work = 2 * n ** 3
        h.cpu_limit(work, f"a {n}x{n} {dt} matmul")
        if dt != "fp32" and not h.gpu and n > 1024:
            raise h.Skip(f"{dt} matmul at {n} is slow on most CPUs")
        h.need(3 * n * n * dtype.itemsize, f"a {n}x{n} {dt} matmul")
        a = torch.randn(n, n, device=dev, dtype=dtype)
        b = torch.randn(n, n, device=dev, dtype=dtype)
        c = torch.empty(n, n, device=dev, dtype=dtype)
        peak, note = _fp32_peak(torch, h, "matmul") if dt == "fp32" else (dt, None)
        return h.measure(lambda: torch.mm(a, b, out=c), work, "TFLOP/s", peak, note)
    return bench


for _dt in ("fp32", "fp16", "bf16"):
    for _n in (1024, 4096, 8192):
        globals()[f"bench_matmul_{_dt}_{_n}"] = _matmul(_n, _dt)

# ResNet-50 convolution layers (He et al. 2015, table 1): (in, out, kernel, stride, padding,
# input size). Batch 32.
RESNET50_LAYERS = [
    (3, 64, 7, 2, 3, 224),     # conv1
    (256, 64, 1, 1, 0, 56),    # conv2_x 1x1 reduce
    (64, 64, 3, 1, 1, 56),     # conv2_x 3x3
    (128, 128, 3, 1, 1, 28),   # conv3_x 3x3
    (256, 256, 3, 1, 1, 14),   # conv4_x 3x3
    (1024, 256, 1, 1, 0, 14),  # conv4_x 1x1 reduce
    (512, 512, 3, 1, 1, 7),    # conv5_x 3x3
]
BATCH = 32


def _conv_flops(cin, cout, k, stride, pad, size, batch=BATCH):
    out = (size + 2 * pad - k) // stride + 1
    return 2 * batch * cout * out * out * cin * k * k


def _conv(direction, dt):
    def bench(torch, dev, h):
        F = torch.nn.functional
        dtype = _dtype(torch, dt)
        if dt != "fp32":
            h.gpu_only(f"{dt} convolution")
        torch.manual_seed(0)
        layers = []
        for cin, cout, k, s, p, size in RESNET50_LAYERS:
            x = torch.randn(BATCH, cin, size, size, device=dev, dtype=dtype)
            w = torch.randn(cout, cin, k, k, device=dev, dtype=dtype) * (1.0 / math.sqrt(cin * k * k))
            if direction == "bwd":
                x.requires_grad_(True)
                w.requires_grad_(True)
                y = F.conv2d(x, w, stride=s, padding=p)
                g = torch.randn_like(y)
                layers.append((x, w, y, g))
            else:
                layers.append((x, w, s, p))
        fwd = sum(_conv_flops(*l) for l in RESNET50_LAYERS)
        if direction == "bwd":
            def fn():
                for x, w, y, g in layers:
                    torch.autograd.grad(y, (x, w), g, retain_graph=True)
            work = 2 * fwd
        else:
            def fn():
                with torch.no_grad():
                    for x, w, s, p in layers:
                        F.conv2d(x, w, stride=s, padding=p)
            work = fwd
        peak, note = _fp32_peak(torch, h, "conv") if dt == "fp32" else (dt, None)
        return h.measure(fn, work, "TFLOP/s", peak, note)
    return bench


for _dt in ("fp32", "fp16"):
    for _d in ("fwd", "bwd"):
        globals()[f"bench_conv2d_{_d}_{_dt}"] = _conv(_d, _dt)


def _batchnorm(direction):
    def bench(torch, dev, h):
        shape = (BATCH, 256, 56, 56)  # ResNet-50 conv2_x output
        n = math.prod(shape)
        h.need(4 * n * 4, "batch-norm at (32, 256, 56, 56)")
        bn = torch.nn.BatchNorm2d(256).to(dev).train()
        x = torch.randn(*shape, device=dev)
        if direction == "fwd":
            def fn():
                with torch.no_grad():
                    bn(x)
            # Counted: one read of x and one write of y (the statistics pass reads x again).
            work = 2 * n * 4
        else:
            x.requires_grad_(True)
            y = bn(x)
            g = torch.randn_like(y)
            def fn():
                torch.autograd.grad(y, (x,) + tuple(bn.parameters()), g, retain_graph=True)
            # Counted: reads of x and dy, one write of dx.
            work = 3 * n * 4
        return h.measure(fn, work, "GB/s", "bandwidth",
                         "effective: one pass over each tensor counted")
    return bench


bench_batchnorm_fwd_fp32 = _batchnorm("fwd")
bench_batchnorm_bwd_fp32 = _batchnorm("bwd")


def bench_sdpa_fp16_causal(torch, dev, h):
    h.gpu_only("fp16 attention")
    b, heads, s, d = 8, 16, 2048, 64
    q, k, v = (torch.randn(b, heads, s, d, device=dev, dtype=torch.float16) for _ in range(3))
    F = torch.nn.functional
    # Causal: half of the 4*b*h*s*s*d FLOPs of full attention.
    work = 2 * b * heads * s * s * d
    return h.measure(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True),
                     work, "TFLOP/s", "fp16")


def bench_copy_d2d(torch, dev, h):
    nbytes = GIB if h.gpu else 256 << 20
    h.need(2 * nbytes, "a device copy")
    a = torch.empty(nbytes, dtype=torch.uint8, device=dev).fill_(1)
    b = torch.empty_like(a)
    # A copy reads and writes every byte.
    return h.measure(lambda: b.copy_(a), 2 * nbytes, "GB/s", "bandwidth",
                     "bytes read plus bytes written")


def _host_copy(direction, pinned):
    """A 256 MiB copy between host and device, as torch does it: `d.copy_(host)` (pageable:
    blocking; pinned: non_blocking). The host buffer is torch's own allocation
    (`torch.empty`: malloc'd, pageable) written once with `fill_` before timing, so every
    page is real memory: a never-written buffer maps the kernel's shared zero page for
    every page and a host-to-device copy from it reads about twice as fast (19.4 against
    9.0 GB/s on an H200, docs/bench-h200.md), which is not what copying data costs."""
    def bench(torch, dev, h):
        h.gpu_only("a host-device copy")
        nbytes = 256 << 20
        host = torch.empty(nbytes, dtype=torch.uint8).fill_(1)
        if pinned:
            host = host.pin_memory()
        d = torch.empty(nbytes, dtype=torch.uint8, device=dev)
        if direction == "h2d":
            fn = lambda: d.copy_(host, non_blocking=pinned)
        else:
            fn = lambda: host.copy_(d, non_blocking=pinned)
        return h.measure(fn, nbytes, "GB/s", None)
    return bench


for _dir in ("h2d", "d2h"):
    globals()[f"bench_copy_{_dir}_pageable"] = _host_copy(_dir, False)
    globals()[f"bench_copy_{_dir}_pinned"] = _host_copy(_dir, True)


def bench_conv_first_call(torch, dev, h):
    """A convolution shape used nowhere else in the run: its first call pays for choosing
    (and on ROCm, compiling) the kernel; the result is the first call against the warm one."""
    F = torch.nn.functional
    x = torch.randn(BATCH, 96, 40, 40, device=dev)
    w = torch.randn(80, 96, 3, 3, device=dev) * 0.03
    work = _conv_flops(96, 80, 3, 1, 1, 40)

    def fn():
        with torch.no_grad():
            F.conv2d(x, w, padding=1)
    m = h.measure(fn, work, "TFLOP/s", None)
    warm = m["median_ms"]
    m["note"] = f"first call {m['first_call_ms']:.1f} ms, warm {warm:.2f} ms " \
                f"({m['first_call_ms'] / warm:.0f}x)" if warm > 0 else None
    m["first_call"] = True
    return m


BENCHES = [(n[len("bench_"):], f) for n, f in list(globals().items())
           if n.startswith("bench_") and callable(f)]
