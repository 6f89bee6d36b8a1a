"""PyTorch baselines: the original MLDS client's one-network-at-a-time training,
torch.func ``vmap(grad(loss))`` over stacked parameters, and the torch.func model-ensembling
pattern (the strongest simple peer): parameters stacked with ``stack_module_state``, the
forward of every network through ``vmap(functional_call)``, ONE ``loss.sum().backward()``
and ONE ``torch.optim.Adam`` over the stacked tensors — eager, or under ``torch.compile``.
torch.func cannot vmap the built-in ``nn.GRU``, so the vmapped peers use a hand-written GRU
with PyTorch's equations."""

from __future__ import annotations

import copy
import time

import torch
import torch.nn.functional as F

from benchmarks._workloads import DENSE, GRU


def _device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _sync():
    if torch.cuda.is_available():
        torch.cuda.synchronize()


TIMED_CPU_S: list[float] = []
"""CPU seconds (this process, every thread) of each :func:`_timed` loop, in order."""


def _timed(step, seconds: float, min_steps: int = 3) -> tuple[int, float]:
    for _ in range(2):
        step()
    _sync()
    t0, cpu0, n = time.perf_counter(), time.process_time(), 0
    while n < min_steps or time.perf_counter() - t0 < seconds:
        step()
        n += 1
    _sync()
    TIMED_CPU_S.append(time.process_time() - cpu0)
    return n, time.perf_counter() - t0


def _timed_adam(total_loss, fixed: tuple, tensors: list[torch.Tensor], batch, n_models: int,
                seconds: float, compile: bool) -> dict:
    """The ensemble peers' common loop, timed: each step draws ``xb, yb = batch()``, runs
    ONE ``total_loss(*fixed, xb, yb).backward()`` (under ``torch.compile`` if ``compile``:
    the first step's time is ``compile_s``) and ONE ``torch.optim.Adam`` over ``tensors``
    (``foreach`` on CPU, ``fused`` on a GPU)."""
    loss_fn = torch.compile(total_loss) if compile else total_loss
    kw = {"fused": True} if _device().type == "cuda" else {"foreach": True}
    opt = torch.optim.Adam(tensors, lr=1e-3, **kw)

    def step():
        xb, yb = batch()
        opt.zero_grad(set_to_none=True)
        loss_fn(*fixed, xb, yb).backward()
        opt.step()

    out = {}
    if compile:
        t0 = time.perf_counter()
        step()
        _sync()
        out["compile_s"] = time.perf_counter() - t0
    n, secs = _timed(step, seconds)
    return {"network_steps": n * n_models, "seconds": secs, "n_models": n_models, **out}


class _GRUNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.gru = torch.nn.GRU(GRU.input, GRU.hidden, num_layers=GRU.layers, batch_first=True)
        w = [GRU.hidden, *GRU.head, GRU.output]
        mods = []
        for a, b in zip(w[:-1], w[1:]):
            mods += [torch.nn.Linear(a, b), torch.nn.Tanh()]
        self.fc = torch.nn.Sequential(*mods[:-1])

    def forward(self, x):
        return self.fc(self.gru(x)[0])


def _dense_data(workload: str, dev):
    """``(workload class, images uint8 [n_images, 784], labels [n_images])``: random
    MNIST-shaped data for a dense workload of ``DENSE``."""
    dense = DENSE[workload]
    images = torch.randint(0, 256, (dense.n_images, dense.widths[0]), dtype=torch.uint8,
                           device=dev)
    return dense, images, torch.randint(0, 10, (dense.n_images,), device=dev)


def _mlp_module(w: tuple[int, ...]):
    mods = []
    for a, b in zip(w[:-1], w[1:]):
        mods += [torch.nn.Linear(a, b), torch.nn.ReLU()]
    return torch.nn.Sequential(*mods[:-1])


def torch_single(workload: str, seconds: float) -> dict:
    """One network, nn.Module + torch.optim.Adam, as the MLDS client trained."""
    dev = _device()
    torch.manual_seed(0)
    if workload == "gru":
        net = _GRUNet().to(dev)
        x = torch.randint(0, 2, (GRU.batch, GRU.time, GRU.input), device=dev).float()
        y = torch.randint(0, 2, (GRU.batch, GRU.time, GRU.output), device=dev).float()
        loss_fn = F.binary_cross_entropy_with_logits
    else:
        dense, images, labels = _dense_data(workload, dev)
        net = _mlp_module(dense.widths).to(dev)
        loss_fn = None
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    gen = torch.Generator(device="cpu").manual_seed(1)

    def step():
        if workload == "gru":
            loss = loss_fn(net(x), y)
        else:
            idx = torch.randint(0, dense.n_images, (dense.batch,), generator=gen).to(dev)
            loss = F.cross_entropy(net(images[idx].float() / 255.0), labels[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    n, secs = _timed(step, seconds)
    return {"network_steps": n, "seconds": secs, "n_models": 1}


def _gru_params(n: int, dev) -> dict[str, torch.Tensor]:
    ref = _GRUNet()
    return {k: v.detach().unsqueeze(0).repeat(n, *([1] * v.dim())).to(dev).contiguous()
            for k, v in ref.state_dict().items()}


def _gru_functional(p: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """x [batch, time, in] -> logits [batch, time, out] (PyTorch GRU equations)."""
    h_in = x
    H = GRU.hidden
    for k in range(GRU.layers):
        gi = h_in @ p[f"gru.weight_ih_l{k}"].T + p[f"gru.bias_ih_l{k}"]
        h = x.new_zeros(x.shape[0], H)
        outs = []
        # unbind / chunk rather than slicing: their backward is one stack / cat instead of a
        # zero-filled full-size gradient per slice (measured 2x faster per step)
        for gi_t in gi.unbind(1):
            gh = h @ p[f"gru.weight_hh_l{k}"].T + p[f"gru.bias_hh_l{k}"]
            i_r, i_z, i_n = gi_t.chunk(3, -1)
            h_r, h_z, h_n = gh.chunk(3, -1)
            r = torch.sigmoid(i_r + h_r)
            z = torch.sigmoid(i_z + h_z)
            n = torch.tanh(i_n + r * h_n)
            h = (1 - z) * n + z * h
            outs.append(h)
        h_in = torch.stack(outs, 1)
    out = h_in
    n_fc = len(GRU.head) + 1
    for j in range(n_fc):
        out = out @ p[f"fc.{2 * j}.weight"].T + p[f"fc.{2 * j}.bias"]
        if j < n_fc - 1:
            out = torch.tanh(out)
    return out


def torch_func_vmap(workload: str, n_models: int, seconds: float) -> dict:
    """torch.func.vmap(grad(loss)) over stacked parameters, per-network data, Adam by hand."""
    from torch.func import grad, vmap

    dev = _device()
    torch.manual_seed(0)
    if workload == "gru":
        params = _gru_params(n_models, dev)
        x = torch.randint(0, 2, (n_models, GRU.batch, GRU.time, GRU.input), device=dev).float()
        y = torch.randint(0, 2, (n_models, GRU.batch, GRU.time, GRU.output), device=dev).float()

        def loss(p, xb, yb):
            return F.binary_cross_entropy_with_logits(_gru_functional(p, xb), yb)

        def batch():
            return x, y
    else:
        dense, images, labels = _dense_data(workload, dev)
        ref = _mlp_module(dense.widths)
        params = {k: v.detach().unsqueeze(0).repeat(n_models, *([1] * v.dim())).to(dev)
                  for k, v in ref.state_dict().items()}
        names = sorted({k.rsplit(".", 1)[0] for k in params}, key=lambda s: int(s))

        def loss(p, xb, yb):
            h = xb
            for i, nm in enumerate(names):
                h = h @ p[f"{nm}.weight"].T + p[f"{nm}.bias"]
                if i < len(names) - 1:
                    h = torch.relu(h)
            return F.cross_entropy(h, yb)

        def batch():
            idx = torch.randint(0, dense.n_images, (n_models, dense.batch), device=dev)
            return images[idx].float() / 255.0, labels[idx]

    g_fn = vmap(grad(loss))
    keys = list(params)
    m = [torch.zeros_like(params[k]) for k in keys]
    v = [torch.zeros_like(params[k]) for k in keys]
    ps = [params[k] for k in keys]
    state = {"t": 0}

    def step():
        xb, yb = batch()
        g = g_fn(params, xb, yb)
        gs = [g[k] for k in keys]
        state["t"] += 1
        t = state["t"]
        torch._foreach_mul_(m, 0.9)
        torch._foreach_add_(m, gs, alpha=0.1)
        torch._foreach_mul_(v, 0.999)
        torch._foreach_addcmul_(v, gs, gs, value=0.001)
        denom = torch._foreach_sqrt(v)
        torch._foreach_div_(denom, (1 - 0.999**t) ** 0.5)
        torch._foreach_add_(denom, 1e-8)
        torch._foreach_addcdiv_(ps, m, denom, value=-1e-3 / (1 - 0.9**t))

    n, secs = _timed(step, seconds)
    return {"network_steps": n * n_models, "seconds": secs, "n_models": n_models}


class _HandGRUNet(_GRUNet):
    """``_GRUNet``'s parameters (same names), forward through the hand-written GRU so that
    ``torch.func.vmap`` can batch it."""

    def forward(self, x):
        p = {name: _attr(self, name) for name in self.state_dict()}
        return _gru_functional(p, x)


def _attr(module: torch.nn.Module, dotted: str) -> torch.Tensor:
    for part in dotted.split("."):
        module = getattr(module, part)
    return module


def torch_ensemble(workload: str, n_models: int, seconds: float, compile: bool = False) -> dict:
    """The torch.func model-ensembling pattern: one autograd backward of the summed
    per-network losses (exact: each network's gradient is that of its own loss) and one
    ``torch.optim.Adam`` (``foreach`` on CPU, ``fused`` on a GPU) over the stacked tensors.

    ``compile=True`` runs the forward + loss under ``torch.compile`` (AOTAutograd compiles
    the backward too); the first steps' time is reported as ``compile_s``.
    """
    from torch.func import functional_call, stack_module_state, vmap

    dev = _device()
    torch.manual_seed(0)
    if workload == "gru":
        nets = [_HandGRUNet().to(dev) for _ in range(n_models)]
        x = torch.randint(0, 2, (n_models, GRU.batch, GRU.time, GRU.input), device=dev).float()
        y = torch.randint(0, 2, (n_models, GRU.batch, GRU.time, GRU.output), device=dev).float()

        def per_net_loss(logits, yb):
            return F.binary_cross_entropy_with_logits(logits, yb, reduction="none").mean(
                (1, 2, 3))

        def batch():
            return x, y
    else:
        dense, images, labels = _dense_data(workload, dev)
        nets = [_mlp_module(dense.widths).to(dev) for _ in range(n_models)]

        def per_net_loss(logits, yb):
            return F.cross_entropy(logits.flatten(0, 1), yb.flatten(), reduction="none").view(
                n_models, -1).mean(1)

        def batch():
            idx = torch.randint(0, dense.n_images, (n_models, dense.batch), device=dev)
            return images[idx].float() / 255.0, labels[idx]

    params, buffers = stack_module_state(nets)
    base = copy.deepcopy(nets[0]).to("meta")

    def one(p, b, xb):
        return functional_call(base, (p, b), (xb,))

    def total_loss(p, b, xb, yb):
        return per_net_loss(vmap(one)(p, b, xb), yb).sum()

    return _timed_adam(total_loss, (params, buffers), list(params.values()), batch, n_models,
                       seconds, compile)


def _uniform(shape: tuple[int, ...], bound: float, dev) -> torch.Tensor:
    return torch.empty(shape, device=dev).uniform_(-bound, bound)


def _batched_params(workload: str, n: int, dev) -> list[torch.Tensor]:
    """Stacked, pre-transposed parameters ``[n, in, out]`` / biases ``[n, 1, out]`` with
    PyTorch's default init bounds (``nn.GRU``: 1/sqrt(hidden); ``nn.Linear``: 1/sqrt(in)):
    the GRU's layers ``(w_ih, w_hh, b_ih, b_hh)`` then the head's ``(w, b)`` pairs."""
    out: list[torch.Tensor] = []
    if workload == "gru":
        H, k = GRU.hidden, GRU.hidden ** -0.5
        for layer in range(GRU.layers):
            i = GRU.input if layer == 0 else H
            out += [_uniform((n, i, 3 * H), k, dev), _uniform((n, H, 3 * H), k, dev),
                    _uniform((n, 1, 3 * H), k, dev), _uniform((n, 1, 3 * H), k, dev)]
        widths = [H, *GRU.head, GRU.output]
    else:
        widths = list(DENSE[workload].widths)
    for a, b in zip(widths[:-1], widths[1:]):
        out += [_uniform((n, a, b), a ** -0.5, dev), _uniform((n, 1, b), a ** -0.5, dev)]
    return [t.requires_grad_() for t in out]


def _batched_gru_logits(p: list[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """x [n_models, time, batch, in] (time-major) -> logits [n_models, time * batch, out]:
    PyTorch's GRU equations with every product one ``baddbmm`` over the networks."""
    n, T, B, _ = x.shape
    H = GRU.hidden
    inp = x.reshape(n, T * B, -1)
    for layer in range(GRU.layers):
        w_ih, w_hh, b_ih, b_hh = p[4 * layer: 4 * layer + 4]
        gi = torch.baddbmm(b_ih, inp, w_ih).view(n, T, B, 3 * H)
        h = x.new_zeros(n, B, H)
        outs = []
        # unbind / split: their backward is one stack / cat, not a zero-filled gradient per
        # slice; lerp(n, h, z) = (1 - z) * n + z * h in one op
        for gi_t in gi.unbind(1):
            gh = torch.baddbmm(b_hh, h, w_hh)
            i_rz, i_n = gi_t.split([2 * H, H], -1)
            h_rz, h_n = gh.split([2 * H, H], -1)
            r, z = torch.sigmoid(i_rz + h_rz).chunk(2, -1)
            h = torch.lerp(torch.tanh(i_n + r * h_n), h, z)
            outs.append(h)
        inp = torch.stack(outs, 1).view(n, T * B, H)
    head = p[4 * GRU.layers:]
    for j in range(0, len(head), 2):
        inp = torch.baddbmm(head[j + 1], inp, head[j])
        if j < len(head) - 2:
            inp = torch.tanh(inp)
    return inp


def torch_batched(workload: str, n_models: int, seconds: float, compile: bool = False) -> dict:
    """A hand-batched ensemble, no vmap: every network's weights stacked on a leading axis and
    pre-transposed (``[n_models, in, out]``), every product one ``torch.baddbmm`` (bias
    included) over all networks, the GRU in time-major layout with its gates computed from
    one slice per step, one ``backward`` of the summed per-network mean losses and one
    ``torch.optim.Adam`` (``foreach`` on CPU, ``fused`` on a GPU). ``compile=True`` wraps
    the loss in ``torch.compile`` (first steps' time in ``compile_s``)."""
    dev = _device()
    torch.manual_seed(0)
    params = _batched_params(workload, n_models, dev)
    if workload == "gru":
        # time-major data, laid out once: [n_models, time, batch, features]
        x = torch.randint(0, 2, (n_models, GRU.time, GRU.batch, GRU.input), device=dev).float()
        y = torch.randint(0, 2, (n_models, GRU.time * GRU.batch, GRU.output),
                          device=dev).float()
        per_net = GRU.time * GRU.batch * GRU.output

        def total_loss(p, xb, yb):  # sum over networks of each one's mean loss
            return F.binary_cross_entropy_with_logits(
                _batched_gru_logits(p, xb), yb, reduction="sum") / per_net

        def batch():
            return x, y
    else:
        dense, images, labels = _dense_data(workload, dev)

        def total_loss(p, xb, yb):
            h = xb
            for j in range(0, len(p), 2):
                h = torch.baddbmm(p[j + 1], h, p[j])
                if j < len(p) - 2:
                    h = torch.relu(h)
            return F.cross_entropy(h.flatten(0, 1), yb.flatten(), reduction="sum") / dense.batch

        def batch():
            idx = torch.randint(0, dense.n_images, (n_models, dense.batch), device=dev)
            return images[idx].float() / 255.0, labels[idx]

    return _timed_adam(total_loss, (params,), params, batch, n_models, seconds, compile)


def torch_matmul_peak(seconds: float = 1.0) -> float:
    dev = _device()
    n = 4096 if dev.type == "cuda" else 1024
    a = torch.randn(n, n, device=dev)
    b = torch.randn(n, n, device=dev)
    k, secs = _timed(lambda: a @ b, seconds)
    return 2 * n**3 * k / secs / 1e9
