"""rocm-patch probe worker.

Imports torch once, then runs one probe per request from stdin and answers on a private
copy of stdout (probe output goes to stderr). rocm-patch restarts it after a crash, a hang
or a device error. `--all` runs every probe in this one process (the unisolated baseline
for scripts/bench-probe.sh). `--bench` serves the benchmarks of rp_bench_ops.py (written
beside this file) instead, with the same protocol; each answer then carries `metrics`.

A probe is a function probe_<name>(torch, device): it passes if it returns (the returned
string, if any, is its detail), is `wrong` if it raises AssertionError, `skip` if it
raises NotImplementedError or ProbeSkip, and `error` on any other exception.
"""

import argparse
import faulthandler
import importlib.util
import json
import os
import sys
import time
import traceback

PROTO = os.fdopen(os.dup(1), "w", buffering=1)
os.dup2(2, 1)
faulthandler.enable()


def send(obj):
    PROTO.write(json.dumps(obj) + "\n")
    PROTO.flush()


class ProbeSkip(Exception):
    """Raised by a probe when its operation is unavailable here."""


PROBES = []


def probe(fn):
    PROBES.append((fn.__name__[len("probe_"):], fn))
    return fn


# ---- checking helpers ------------------------------------------------------------------

def cpu(t):
    return t.detach().to("cpu")


def close(torch, got, want, tol, what="result"):
    """Max error relative to the largest reference magnitude must be within tol."""
    g = cpu(got).double()
    w = cpu(want).double()
    if g.shape != w.shape:
        raise AssertionError(f"{what}: shape {tuple(g.shape)} != {tuple(w.shape)}")
    if not torch.isfinite(g).all():
        raise AssertionError(f"{what}: non-finite values")
    err = (g - w).abs().max().item() if g.numel() else 0.0
    scale = w.abs().max().item() if w.numel() else 0.0
    rel = err / (scale + 1e-30)
    if rel > tol:
        raise AssertionError(
            f"{what}: max error {err:.3g} is {rel:.3g} of max |value| {scale:.3g} (tolerance {tol:g})")


def same(torch, got, want, what="result"):
    if not torch.equal(cpu(got), cpu(want)):
        raise AssertionError(f"{what}: differs from CPU")


def sync(torch, dev):
    if dev.startswith("cuda"):
        torch.cuda.synchronize()


# Tolerances by dtype, relative to the largest magnitude. fp32 matmul/conv allow TF32-
# level error (NVIDIA's cuDNN uses TF32 for convolutions by default).
TOL_EXACTISH = 1e-5
TOL_F32_MM = 5e-3
TOL_F16 = 1e-2
TOL_BF16 = 5e-2


def fwd_bwd(torch, dev, make_module, x_shape, tol, dtype=None):
    """Run a module forward and backward on CPU and device; compare output and grads."""
    torch.manual_seed(0)
    m_cpu = make_module()
    x_cpu = torch.randn(*x_shape, requires_grad=True)
    m_dev = make_module().to(dev)
    m_dev.load_state_dict(m_cpu.state_dict())
    x_dev = x_cpu.detach().to(dev).requires_grad_(True)
    if dtype is not None:
        m_dev = m_dev.to(dtype)
        x_dev = x_cpu.detach().to(dev, dtype).requires_grad_(True)
        # The reference sees the same rounded inputs and weights.
        m_cpu.load_state_dict({k: v.to(dtype).float() for k, v in m_cpu.state_dict().items()})
        x_cpu = x_cpu.detach().to(dtype).float().requires_grad_(True)
    y_cpu = m_cpu(x_cpu)
    y_dev = m_dev(x_dev)
    g = torch.randn_like(y_cpu)
    y_cpu.backward(g)
    y_dev.backward(g.to(dev, y_dev.dtype))
    sync(torch, dev)
    close(torch, y_dev.float(), y_cpu, tol, "output")
    close(torch, x_dev.grad.float(), x_cpu.grad, tol, "input gradient")
    for (n, p_dev), (_, p_cpu) in zip(m_dev.named_parameters(), m_cpu.named_parameters()):
        close(torch, p_dev.grad.float(), p_cpu.grad, tol, f"{n} gradient")
    return m_dev, m_cpu


# ---- the matrix ----------------------------------------------------------------------------

@probe
def probe_device_init(torch, dev):
    x = torch.ones(4, device=dev)
    sync(torch, dev)
    assert x.sum().item() == 4.0, "ones(4).sum() != 4"
    if dev.startswith("cuda"):
        p = torch.cuda.get_device_properties(torch.cuda.current_device())
        # ROCm builds name the ISA (gfx1010...); CUDA builds have a compute capability.
        arch = p.gcnArchName if torch.version.hip else f"sm_{p.major}{p.minor}"
        return f"{p.name} ({arch}, {p.total_memory / 2**30:.1f} GiB)"
    return "cpu"


@probe
def probe_alloc_small(torch, dev):
    x = torch.empty(1024, device=dev).fill_(3.0)
    assert x.sum().item() == 3072.0


@probe
def probe_alloc_large(torch, dev):
    n = 64 << 20  # 256 MiB of float32
    x = torch.full((n,), 2.0, device=dev)
    s = x.sum(dtype=torch.float64).item()
    del x
    if dev.startswith("cuda"):
        torch.cuda.empty_cache()
    assert s == 2.0 * n, f"sum {s} != {2.0 * n}"
    return "256 MiB"


@probe
def probe_copy_h2d(torch, dev):
    a = torch.randn(1 << 22)
    same(torch, a.to(dev), a, "pageable copy")
    if dev.startswith("cuda"):
        p = a.pin_memory()
        b = p.to(dev, non_blocking=True)
        sync(torch, dev)
        same(torch, b, a, "pinned copy")


@probe
def probe_copy_d2h(torch, dev):
    b = torch.arange(1 << 22, device=dev, dtype=torch.float32)
    same(torch, b.cpu(), torch.arange(1 << 22, dtype=torch.float32), "device to host")


@probe
def probe_elementwise(torch, dev):
    a = torch.randn(1 << 20)
    b = torch.randn(1 << 20)
    f = lambda a, b: a * b + torch.sin(a) - torch.exp(b / 4) / (1 + a * a) + torch.tanh(b).abs().sqrt()
    close(torch, f(a.to(dev), b.to(dev)), f(a, b), 1e-5)


@probe
def probe_reduction(torch, dev):
    a = torch.randn(1 << 20)
    d = a.to(dev)
    for name, fn, tol in [("sum", torch.sum, 1e-4), ("mean", torch.mean, 1e-4), ("max", torch.max, 0),
                          ("min", torch.min, 0), ("std", torch.std, 1e-4), ("norm", torch.linalg.norm, 1e-4)]:
        close(torch, fn(d), fn(a), tol, name)
    close(torch, d.view(1024, 1024).sum(dim=1), a.view(1024, 1024).sum(dim=1), 1e-4, "sum(dim=1)")
    close(torch, torch.cumsum(d[:4096], 0), torch.cumsum(a[:4096], 0), 1e-4, "cumsum")


def _matmul(torch, dev, dtype, tol):
    a = torch.randn(512, 512)
    b = torch.randn(512, 256)
    ar, br = a.to(dtype).float(), b.to(dtype).float()
    got = a.to(dev, dtype) @ b.to(dev, dtype)
    close(torch, got.float(), ar @ br, tol)


@probe
def probe_matmul_fp32(torch, dev):
    _matmul(torch, dev, torch.float32, TOL_F32_MM)


@probe
def probe_matmul_fp16(torch, dev):
    _matmul(torch, dev, torch.float16, TOL_F16)


@probe
def probe_matmul_bf16(torch, dev):
    _matmul(torch, dev, torch.bfloat16, TOL_BF16)


@probe
def probe_bmm(torch, dev):
    a = torch.randn(8, 128, 64)
    b = torch.randn(8, 64, 32)
    close(torch, torch.bmm(a.to(dev), b.to(dev)), torch.bmm(a, b), TOL_F32_MM)


@probe
def probe_linear_fwd_bwd(torch, dev):
    fwd_bwd(torch, dev, lambda: torch.nn.Linear(256, 128), (64, 256), TOL_F32_MM)


@probe
def probe_conv2d_fwd_bwd(torch, dev):
    # The seed project's first case.
    fwd_bwd(torch, dev, lambda: torch.nn.Conv2d(3, 16, 3, padding=1), (1, 3, 32, 32), TOL_F32_MM)


@probe
def probe_conv2d_mnist(torch, dev):
    # The seed project's second case.
    fwd_bwd(torch, dev, lambda: torch.nn.Conv2d(1, 32, 3), (1, 1, 28, 28), TOL_F32_MM)


@probe
def probe_conv2d_fp16(torch, dev):
    if dev == "cpu":
        raise ProbeSkip("fp16 convolution is a GPU path")
    fwd_bwd(torch, dev, lambda: torch.nn.Conv2d(16, 32, 3, padding=1), (8, 16, 32, 32), 2e-2,
            dtype=torch.float16)


@probe
def probe_batchnorm_fwd_bwd(torch, dev):
    m_dev, m_cpu = fwd_bwd(torch, dev, lambda: torch.nn.BatchNorm2d(16), (8, 16, 16, 16), 1e-4)
    close(torch, m_dev.running_mean, m_cpu.running_mean, 1e-4, "running_mean")
    close(torch, m_dev.running_var, m_cpu.running_var, 1e-4, "running_var")


@probe
def probe_layernorm(torch, dev):
    fwd_bwd(torch, dev, lambda: torch.nn.LayerNorm(256), (32, 64, 256), 1e-4)


@probe
def probe_groupnorm(torch, dev):
    fwd_bwd(torch, dev, lambda: torch.nn.GroupNorm(4, 32), (8, 32, 16, 16), 1e-4)


@probe
def probe_sdpa(torch, dev):
    F = torch.nn.functional
    q, k, v = (torch.randn(2, 4, 64, 32) for _ in range(3))
    for causal in (False, True):
        want = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
        got = F.scaled_dot_product_attention(q.to(dev), k.to(dev), v.to(dev), is_causal=causal)
        close(torch, got, want, TOL_F32_MM, f"is_causal={causal}")
    if dev.startswith("cuda"):
        h = [t.to(dev, torch.float16) for t in (q, k, v)]
        want = F.scaled_dot_product_attention(*[t.to(torch.float16).float() for t in (q, k, v)])
        close(torch, F.scaled_dot_product_attention(*h).float(), want, TOL_F16, "fp16")


@probe
def probe_rng_rand(torch, dev):
    torch.manual_seed(1)
    x = torch.rand(1 << 20, device=dev)
    torch.manual_seed(1)
    y = torch.rand(1 << 20, device=dev)
    same(torch, x, y, "same seed")
    lo, hi, mean = x.min().item(), x.max().item(), x.mean().item()
    assert 0.0 <= lo and hi < 1.0, f"values outside [0, 1): {lo}, {hi}"
    assert abs(mean - 0.5) < 0.01, f"mean {mean}"


@probe
def probe_rng_randn(torch, dev):
    x = torch.randn(1 << 20, device=dev)
    mean, std = x.mean().item(), x.std().item()
    assert abs(mean) < 0.01 and abs(std - 1) < 0.01, f"mean {mean}, std {std}"


@probe
def probe_dropout(torch, dev):
    x = torch.ones(1 << 20, device=dev)
    y = torch.nn.functional.dropout(x, p=0.3, training=True)
    zero = (y == 0).float().mean().item()
    assert abs(zero - 0.3) < 0.01, f"dropped fraction {zero}"
    kept = y[y != 0]
    close(torch, kept, torch.full_like(kept, 1 / 0.7), 1e-6, "scaling")


@probe
def probe_fft(torch, dev):
    x = torch.randn(4096, dtype=torch.complex64)
    close(torch, torch.fft.fft(x.to(dev)).abs(), torch.fft.fft(x).abs(), 1e-4, "fft")
    r = torch.randn(64, 64)
    got = torch.fft.rfft2(r.to(dev))
    want = torch.fft.rfft2(r)
    close(torch, torch.view_as_real(got), torch.view_as_real(want), 1e-4, "rfft2")


@probe
def probe_sparse_mm(torch, dev):
    d = torch.randn(256, 256) * (torch.rand(256, 256) < 0.05)
    s = d.to_sparse()
    b = torch.randn(256, 64)
    close(torch, torch.sparse.mm(s.to(dev), b.to(dev)), d @ b, 1e-4)


@probe
def probe_linalg_solve(torch, dev):
    a = torch.randn(64, 64) + 64 * torch.eye(64)
    b = torch.randn(64, 8)
    x = torch.linalg.solve(a.to(dev), b.to(dev))
    close(torch, a.to(dev) @ x, b, 1e-4, "A @ x")
    close(torch, x, torch.linalg.solve(a, b), 1e-4, "x")


@probe
def probe_linalg_svd(torch, dev):
    a = torch.randn(64, 32)
    u, s, vh = torch.linalg.svd(a.to(dev), full_matrices=False)
    close(torch, s, torch.linalg.svdvals(a), 1e-4, "singular values")
    close(torch, (u * s) @ vh, a, 1e-4, "reconstruction")


@probe
def probe_linalg_cholesky(torch, dev):
    m = torch.randn(64, 64)
    a = m @ m.T + 64 * torch.eye(64)
    l = torch.linalg.cholesky(a.to(dev))
    close(torch, l, torch.linalg.cholesky(a), 1e-4, "L")
    close(torch, l @ l.T, a, 1e-4, "L @ L.T")


@probe
def probe_sort(torch, dev):
    x = torch.randperm(1 << 16).float() / 7
    v, i = torch.sort(x.to(dev), descending=True)
    ve, ie = torch.sort(x, descending=True)
    same(torch, v, ve, "values")
    same(torch, i, ie, "indices")


@probe
def probe_topk(torch, dev):
    x = torch.randperm(1 << 16).float().view(64, 1024)
    v, i = torch.topk(x.to(dev), 10, dim=1)
    ve, ie = torch.topk(x, 10, dim=1)
    same(torch, v, ve, "values")
    same(torch, i, ie, "indices")


@probe
def probe_nonzero(torch, dev):
    x = (torch.rand(512, 512) < 0.1).float()
    same(torch, torch.nonzero(x.to(dev)), torch.nonzero(x))


@probe
def probe_adamw_step(torch, dev):
    torch.manual_seed(0)
    m_cpu = torch.nn.Linear(64, 32)
    m_dev = torch.nn.Linear(64, 32).to(dev)
    m_dev.load_state_dict(m_cpu.state_dict())
    x = torch.randn(16, 64)
    for m, xx in ((m_cpu, x), (m_dev, x.to(dev))):
        opt = torch.optim.AdamW(m.parameters(), lr=1e-2, weight_decay=0.1)
        for _ in range(3):
            opt.zero_grad()
            m(xx).pow(2).mean().backward()
            opt.step()
    sync(torch, dev)
    close(torch, m_dev.weight, m_cpu.weight, 1e-4, "weight")
    close(torch, m_dev.bias, m_cpu.bias, 1e-4, "bias")


@probe
def probe_train_cnn(torch, dev):
    """A small CNN on synthetic MNIST-shaped data (10 noisy class prototypes); the loss
    must fall. Nothing is downloaded."""
    nn = torch.nn
    g = torch.Generator().manual_seed(0)
    protos = torch.rand(10, 1, 28, 28, generator=g)
    model = nn.Sequential(
        nn.Conv2d(1, 8, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(16 * 5 * 5, 10)).to(dev)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    losses = []
    for _ in range(300):
        y = torch.randint(0, 10, (32,), generator=g)
        x = protos[y] + 0.3 * torch.randn(32, 1, 28, 28, generator=g)
        x, y = x.to(dev), y.to(dev)
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    first, last = sum(losses[:20]) / 20, sum(losses[-20:]) / 20
    assert last == last, "loss is NaN"
    assert last < 0.3 * first, f"loss fell only from {first:.3f} to {last:.3f}"
    return f"loss {first:.3f} -> {last:.3f} in 300 steps"



# ---- operations known to break on RDNA1 (docs: crates/rp-kb/data/probes.toml) -------------

def is_gpu(dev):
    return dev.startswith("cuda")


def _first(torch, inner):
    class F(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = inner()

        def forward(self, x):
            return self.inner(x)[0]
    return F()


@probe
def probe_batchnorm_eval(torch, dev):
    import copy
    torch.manual_seed(0)
    m = torch.nn.BatchNorm2d(16)
    with torch.no_grad():
        m.running_mean.uniform_(-1, 1)
        m.running_var.uniform_(0.5, 2)
        m.weight.uniform_(0.5, 1.5)
        m.bias.uniform_(-0.5, 0.5)
    m.eval()
    x = torch.randn(8, 16, 16, 16)
    md = copy.deepcopy(m).to(dev)
    close(torch, md(x.to(dev)), m(x), 1e-4, "fp32")
    if is_gpu(dev):
        xh = x.half()
        close(torch, md(xh.to(dev)).float(), m(xh.float()), TOL_F16, "fp16")


@probe
def probe_batchnorm_train_fp16(torch, dev):
    if not is_gpu(dev):
        raise ProbeSkip("fp16 autocast training is a GPU path")
    import copy
    nn = torch.nn
    torch.manual_seed(0)
    # No conv bias: before a batch-norm its gradient is zero up to rounding noise.
    m_cpu = nn.Sequential(nn.Conv2d(8, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
    m_dev = copy.deepcopy(m_cpu).to(dev)
    x = torch.randn(8, 8, 16, 16)
    g = torch.randn(8, 16, 16, 16)
    # One forward on each side: every training-mode forward moves the running statistics.
    y_cpu = m_cpu(x)
    y_cpu.backward(g)
    xd = x.to(dev)
    with torch.autocast("cuda", dtype=torch.float16):
        y = m_dev(xd)
    y.float().backward(g.to(dev))
    sync(torch, dev)
    close(torch, y.float(), y_cpu, 3e-2, "output")
    for (n, pd), (_, pc) in zip(m_dev.named_parameters(), m_cpu.named_parameters()):
        close(torch, pd.grad.float(), pc.grad, 5e-2, f"{n} gradient")
    close(torch, m_dev[1].running_mean, m_cpu[1].running_mean, 3e-2, "running_mean")


def _rnn(torch, dev, kind):
    nn = torch.nn
    make = lambda: _first(torch, lambda: kind(32, 48, num_layers=2, bidirectional=True,
                                              batch_first=True))
    fwd_bwd(torch, dev, make, (4, 12, 32), TOL_F32_MM)


@probe
def probe_lstm_fwd_bwd(torch, dev):
    _rnn(torch, dev, torch.nn.LSTM)


@probe
def probe_gru_fwd_bwd(torch, dev):
    _rnn(torch, dev, torch.nn.GRU)


@probe
def probe_masked_select(torch, dev):
    x = torch.randn(256, 256)
    m = x > 0.5
    same(torch, torch.masked_select(x.to(dev), m.to(dev)), torch.masked_select(x, m))


@probe
def probe_bool_index_get(torch, dev):
    x = torch.randn(512, 64)
    m = torch.rand(512) < 0.3
    same(torch, x.to(dev)[m.to(dev)], x[m], "rows")
    m2 = x < -1
    same(torch, x.to(dev)[m2.to(dev)], x[m2], "elements")


@probe
def probe_bool_index_put(torch, dev):
    x = torch.randn(512, 64)
    m = x > 1
    xd = x.to(dev)
    xd[m.to(dev)] = 0.0
    x[m] = 0.0
    same(torch, xd, x, "assign scalar")
    v = torch.randn(int(m.sum()))
    xd[m.to(dev)] = v.to(dev)
    x[m] = v
    same(torch, xd, x, "assign values")


@probe
def probe_unique(torch, dev):
    x = torch.randint(0, 500, (1 << 14,))
    got = torch.unique(x.to(dev), sorted=True, return_inverse=True, return_counts=True)
    want = torch.unique(x, sorted=True, return_inverse=True, return_counts=True)
    for g, w, what in zip(got, want, ("values", "inverse", "counts")):
        same(torch, g, w, what)


@probe
def probe_scatter_add(torch, dev):
    src = torch.randn(1024, 16)
    idx0 = torch.randint(0, 64, (1024, 16))
    want = torch.zeros(64, 16).scatter_add(0, idx0, src)
    close(torch, torch.zeros(64, 16, device=dev).scatter_add(0, idx0.to(dev), src.to(dev)),
          want, 1e-5, "dim 0")
    idx1 = torch.randint(0, 8, (1024, 16))
    want = torch.zeros(1024, 8).scatter_add(1, idx1, src)
    close(torch, torch.zeros(1024, 8, device=dev).scatter_add(1, idx1.to(dev), src.to(dev)),
          want, 1e-5, "dim 1")
    out = torch.zeros(64, 16, device=dev)
    out.scatter_add_(0, idx0.to(dev), src.to(dev))
    close(torch, out, torch.zeros(64, 16).scatter_add_(0, idx0, src), 1e-5, "in place")
    # Message passing as PyTorch Geometric does it: gather at sources, add at targets.
    x = torch.randn(200, 32)
    edges = torch.randint(0, 200, (2, 3000))
    want = torch.zeros(200, 32).index_add_(0, edges[1], x[edges[0]])
    xd, ed = x.to(dev), edges.to(dev)
    close(torch, torch.zeros(200, 32, device=dev).index_add_(0, ed[1], xd[ed[0]]), want, 1e-5,
          "index_add_ message passing")


@probe
def probe_index_select(torch, dev):
    x = torch.randn(1000, 64)
    i = torch.randint(0, 1000, (4096,))
    same(torch, torch.index_select(x.to(dev), 0, i.to(dev)), torch.index_select(x, 0, i))


@probe
def probe_gather(torch, dev):
    x = torch.randn(256, 128)
    i = torch.randint(0, 128, (256, 32))
    same(torch, torch.gather(x.to(dev), 1, i.to(dev)), torch.gather(x, 1, i))


@probe
def probe_cumsum(torch, dev):
    x = torch.randn(64, 4096)
    close(torch, torch.cumsum(x.to(dev), 1), torch.cumsum(x, 1), 1e-5, "float")
    xi = torch.randint(-100, 100, (1 << 16,))
    same(torch, torch.cumsum(xi.to(dev), 0), torch.cumsum(xi, 0), "int")


@probe
def probe_embedding_bwd(torch, dev):
    idx = torch.randint(0, 1000, (32, 20))
    g = torch.randn(32, 20, 64)
    for sparse in (False, True):
        torch.manual_seed(0)
        e_cpu = torch.nn.Embedding(1000, 64, sparse=sparse)
        e_dev = torch.nn.Embedding(1000, 64, sparse=sparse).to(dev)
        e_dev.load_state_dict(e_cpu.state_dict())
        e_cpu(idx).backward(g)
        e_dev(idx.to(dev)).backward(g.to(dev))
        gc, gd = e_cpu.weight.grad, e_dev.weight.grad
        if sparse:
            gc, gd = gc.to_dense(), gd.to_dense()
        close(torch, gd, gc, 1e-5, "sparse gradient" if sparse else "dense gradient")


@probe
def probe_cross_entropy_bwd(torch, dev):
    logits = torch.randn(64, 1000, requires_grad=True)
    target = torch.randint(0, 1000, (64,))
    ld = logits.detach().to(dev).requires_grad_(True)
    F = torch.nn.functional
    lc = F.cross_entropy(logits, target, label_smoothing=0.1)
    lg = F.cross_entropy(ld, target.to(dev), label_smoothing=0.1)
    lc.backward()
    lg.backward()
    close(torch, lg, lc, 1e-5, "loss")
    close(torch, ld.grad, logits.grad, 1e-5, "gradient")


@probe
def probe_int8_matmul(torch, dev):
    if not hasattr(torch, "_int_mm"):
        raise ProbeSkip("this torch has no torch._int_mm")
    a = torch.randint(-8, 8, (32, 64), dtype=torch.int8)
    b = torch.randint(-8, 8, (64, 32), dtype=torch.int8)
    want = a.int() @ b.int()
    same(torch, torch._int_mm(a.to(dev), b.to(dev)), want)


@probe
def probe_conv2d_channels_last(torch, dev):
    import copy
    torch.manual_seed(0)
    m = torch.nn.Conv2d(16, 32, 3, padding=1)
    md = copy.deepcopy(m).to(dev).to(memory_format=torch.channels_last)
    x = torch.randn(4, 16, 24, 24)
    xd = x.to(dev).to(memory_format=torch.channels_last).requires_grad_(True)
    xc = x.clone().requires_grad_(True)
    y, yd = m(xc), md(xd)
    g = torch.randn_like(y)
    y.backward(g)
    yd.backward(g.to(dev).to(memory_format=torch.channels_last))
    close(torch, yd, y, TOL_F32_MM, "output")
    close(torch, xd.grad, xc.grad, TOL_F32_MM, "input gradient")
    close(torch, md.weight.grad, m.weight.grad, TOL_F32_MM, "weight gradient")


@probe
def probe_conv_transpose2d(torch, dev):
    fwd_bwd(torch, dev, lambda: torch.nn.ConvTranspose2d(16, 8, 4, stride=2, padding=1),
            (4, 16, 16, 16), TOL_F32_MM)


@probe
def probe_pool2d(torch, dev):
    fwd_bwd(torch, dev, lambda: torch.nn.MaxPool2d(2), (4, 8, 32, 32), 1e-6)
    fwd_bwd(torch, dev, lambda: torch.nn.AvgPool2d(3, stride=2, padding=1), (4, 8, 32, 32), 1e-5)


@probe
def probe_interpolate(torch, dev):
    class Up(torch.nn.Module):
        def forward(self, x):
            return torch.nn.functional.interpolate(x, scale_factor=2, mode="bilinear",
                                                   align_corners=False)
    fwd_bwd(torch, dev, Up, (4, 8, 16, 16), 1e-5)


@probe
def probe_conv3d(torch, dev):
    fwd_bwd(torch, dev, lambda: torch.nn.Conv3d(4, 8, 3, padding=1), (2, 4, 8, 8, 8), TOL_F32_MM)


@probe
def probe_print_tensor(torch, dev):
    import re
    x = torch.tensor([[1.5, -2.25, float("nan")], [float("inf"), 1e-8, 123456.0]])
    strip = lambda s: re.sub(r",\s*device='[^']*'", "", s)
    assert strip(repr(x.to(dev))) == repr(x), f"{repr(x.to(dev))!r} != {repr(x)!r}"
    big = torch.arange(5000, dtype=torch.float32).view(50, 100) / 3
    assert strip(str(big.to(dev))) == str(big), "summarised repr differs"


# ---- workloads -------------------------------------------------------------------------

def _unet_block(torch):
    nn = torch.nn

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(8, 32, 3, padding=1)
            self.norm1 = nn.GroupNorm(8, 32)
            self.conv2 = nn.Conv2d(32, 32, 3, padding=1)
            self.norm2 = nn.GroupNorm(8, 32)
            self.attn = nn.MultiheadAttention(32, 4, batch_first=True)
            self.up = nn.Upsample(scale_factor=2, mode="nearest")
            self.out = nn.Conv2d(32, 8, 3, padding=1)

        def forward(self, x):
            h = nn.functional.silu(self.norm1(self.conv1(x)))
            h = nn.functional.silu(self.norm2(self.conv2(h)))
            b, c, hh, ww = h.shape
            t = h.flatten(2).transpose(1, 2)
            a, _ = self.attn(t, t, t, need_weights=False)
            h = h + a.transpose(1, 2).reshape(b, c, hh, ww)
            return self.out(self.up(h))
    return Block()


@probe
def probe_unet_block(torch, dev):
    t = time.perf_counter()
    fwd_bwd(torch, dev, lambda: _unet_block(torch), (2, 8, 16, 16), TOL_F32_MM)
    done = ["fp32"]
    if is_gpu(dev):
        fwd_bwd(torch, dev, lambda: _unet_block(torch), (2, 8, 16, 16), 5e-2,
                dtype=torch.float16)
        done.append("fp16")
    sync(torch, dev)
    return f"{' and '.join(done)} forward+backward in {time.perf_counter() - t:.2f} s"


@probe
def probe_transformer_decode(torch, dev):
    """One pre-norm transformer block decoding 24 tokens with a KV cache; every step's
    output is compared with the CPU's."""
    nn = torch.nn
    torch.manual_seed(0)
    d, heads, steps = 64, 4, 24

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
            self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
            self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

        def step(self, x, cache):
            q, k, v = self.qkv(self.ln1(x)).split(d, dim=-1)
            shape = lambda t: t.view(t.shape[0], 1, heads, d // heads).transpose(1, 2)
            q, k, v = shape(q), shape(k), shape(v)
            if cache is not None:
                k, v = torch.cat([cache[0], k], 2), torch.cat([cache[1], v], 2)
            a = nn.functional.scaled_dot_product_attention(q, k, v)
            x = x + self.proj(a.transpose(1, 2).reshape(x.shape[0], 1, d))
            return x + self.mlp(self.ln2(x)), (k, v)

    m_cpu = Block().eval()
    m_dev = Block().to(dev).eval()
    m_dev.load_state_dict(m_cpu.state_dict())
    x = torch.randn(2, 1, d)
    t = time.perf_counter()
    with torch.no_grad():
        c_cpu = c_dev = None
        xc, xd = x, x.to(dev)
        for i in range(steps):
            xc, c_cpu = m_cpu.step(xc, c_cpu)
            xd, c_dev = m_dev.step(xd, c_dev)
            close(torch, xd, xc, TOL_F32_MM, f"step {i}")
            xc, xd = torch.tanh(xc), torch.tanh(xd)
    sync(torch, dev)
    return f"{steps} decode steps in {time.perf_counter() - t:.2f} s"


# ---- running -------------------------------------------------------------------------------

def load_user_probes(d, prefix="probe_"):
    out = []
    for f in sorted(os.listdir(d)):
        if not f.endswith(".py"):
            continue
        spec = importlib.util.spec_from_file_location(f"rp_user_probes_{f[:-3]}", os.path.join(d, f))
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        for name in sorted(vars(mod)):
            fn = getattr(mod, name)
            if name.startswith(prefix) and callable(fn):
                out.append((name[len(prefix):], fn))
    return out


def run_one(torch, fn, dev, cuda_ok):
    torch.manual_seed(0)
    if dev.startswith("cuda") and not cuda_ok and fn is not probe_device_init:
        return "skip", "torch.cuda.is_available() is False"
    try:
        detail = fn(torch, dev)
        sync(torch, dev)
        return "pass", None if detail is None else str(detail)
    except AssertionError as e:
        return "wrong", str(e) or "assertion failed: " + traceback.format_exc(limit=-1).strip()
    except (NotImplementedError, ProbeSkip) as e:
        return "skip", f"{type(e).__name__}: {e}"
    except BaseException as e:  # noqa: BLE001 - report everything, including SystemExit
        msg = f"{type(e).__name__}: {e}"
        if "not implemented for" in str(e):
            return "skip", msg
        traceback.print_exc()
        return "error", msg


def run_bench(torch, fn, dev, cuda_ok, repeat):
    """One benchmark: (status, detail, metrics)."""
    import rp_bench_ops
    torch.manual_seed(0)
    if dev.startswith("cuda") and not cuda_ok:
        return "skip", "torch.cuda.is_available() is False", None
    try:
        h = rp_bench_ops.Harness(torch, dev, repeat, ProbeSkip)
        m = fn(torch, dev, h)
        sync(torch, dev)
        if not isinstance(m, dict):
            return "error", f"the benchmark returned {type(m).__name__}, not measurements", None
        rate = m.get("rate")
        detail = m.get("note") or (f"{rate:.3g} {m.get('unit')}" if rate else None)
        return "pass", detail, m
    except (NotImplementedError, ProbeSkip) as e:
        return "skip", f"{type(e).__name__}: {e}", None
    except BaseException as e:  # noqa: BLE001
        msg = f"{type(e).__name__}: {e}"
        if "not implemented for" in str(e):
            return "skip", msg, None
        traceback.print_exc()
        return "error", msg, None


def gpu_info(torch):
    try:
        p = torch.cuda.get_device_properties(torch.cuda.current_device())
    except BaseException:  # noqa: BLE001
        return None
    return {"name": p.name,
            "arch": getattr(p, "gcnArchName", None) if torch.version.hip else f"sm_{p.major}{p.minor}",
            "memory": p.total_memory}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="auto")
    ap.add_argument("--probes-dir")
    ap.add_argument("--all", action="store_true")
    ap.add_argument("--bench", action="store_true")
    a = ap.parse_args()
    if a.bench:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    t0 = time.perf_counter()
    try:
        import torch
    except BaseException as e:  # noqa: BLE001
        send({"fatal": f"cannot import torch in {sys.executable}: {type(e).__name__}: {e}"})
        sys.exit(3)
    cuda_ok = torch.cuda.is_available()
    dev = a.device if a.device != "auto" else ("cuda" if cuda_ok else "cpu")
    if a.bench:
        import rp_bench_ops
        probes = list(rp_bench_ops.BENCHES)
    else:
        probes = list(PROBES)
    if a.probes_dir:
        names = {n for n, _ in probes}
        for n, fn in load_user_probes(a.probes_dir, "bench_" if a.bench else "probe_"):
            while n in names:
                n = n + "_user"
            names.add(n)
            probes.append((n, fn))
    table = dict(probes)
    send({"ready": True, "python": sys.version.split()[0], "executable": sys.executable,
          "torch": torch.__version__, "hip": torch.version.hip, "cuda": torch.version.cuda,
          "device": dev, "cuda_available": cuda_ok, "import_seconds": time.perf_counter() - t0,
          "probes": [n for n, _ in probes],
          "gpu": gpu_info(torch) if dev.startswith("cuda") and cuda_ok else None})
    if a.all:
        for n, fn in probes:
            t = time.perf_counter()
            status, detail = run_one(torch, fn, dev, cuda_ok)
            send({"probe": n, "status": status, "detail": detail, "seconds": time.perf_counter() - t})
        return
    for line in sys.stdin:
        req = json.loads(line)
        name = req["probe"]
        sys.stderr.write(f"##rp-probe-begin {name}\n")
        sys.stderr.flush()
        t = time.perf_counter()
        metrics = None
        if a.bench:
            status, detail, metrics = run_bench(torch, table[name], dev, cuda_ok, req.get("repeat", 10))
        else:
            status, detail = run_one(torch, table[name], dev, cuda_ok)
        # The end marker tells the parent that this probe's stderr is complete.
        sys.stderr.write(f"##rp-probe-end {name}\n")
        sys.stderr.flush()
        answer = {"probe": name, "status": status, "detail": detail, "seconds": time.perf_counter() - t}
        if metrics is not None:
            answer["metrics"] = metrics
        send(answer)


if __name__ == "__main__":
    main()
