"""An independent NumPy implementation of PyTorch's nn.GRU + nn.Linear stack (test oracle).

Written from the equations in PyTorch's nn.GRU documentation, step by step, with no code
shared with mlds_jax:

    r_t = sigmoid(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)
    z_t = sigmoid(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz)
    n_t = tanh(W_in x_t + b_in + r_t * (W_hn h_{t-1} + b_hn))
    h_t = (1 - z_t) * n_t + z_t * h_{t-1}
"""

from __future__ import annotations

import numpy as np


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


ACTIVATIONS = {
    "relu": lambda v: np.maximum(v, 0.0),
    "leaky_relu": lambda v: np.where(v > 0, v, 0.01 * v),
    "tanh": np.tanh,
}


def torch_style_forward(sd: dict[str, np.ndarray], x: np.ndarray, num_layers: int,
                        activation: str = "tanh") -> np.ndarray:
    """``sd``: PyTorch-named tensors; x ``[batch, time, features]`` -> ``[batch, time, out]``."""
    x = np.asarray(x, np.float64)
    batch, time, _ = x.shape
    layer_in = x
    for k in range(num_layers):
        w_ih = sd[f"gru.weight_ih_l{k}"].astype(np.float64)
        w_hh = sd[f"gru.weight_hh_l{k}"].astype(np.float64)
        b_ih = sd[f"gru.bias_ih_l{k}"].astype(np.float64)
        b_hh = sd[f"gru.bias_hh_l{k}"].astype(np.float64)
        w_ir, w_iz, w_in = np.split(w_ih, 3)
        w_hr, w_hz, w_hn = np.split(w_hh, 3)
        b_ir, b_iz, b_in = np.split(b_ih, 3)
        b_hr, b_hz, b_hn = np.split(b_hh, 3)
        hidden = w_hh.shape[1]
        h = np.zeros((batch, hidden))
        outs = []
        for t in range(time):
            xt = layer_in[:, t]
            r = _sigmoid(xt @ w_ir.T + b_ir + h @ w_hr.T + b_hr)
            z = _sigmoid(xt @ w_iz.T + b_iz + h @ w_hz.T + b_hz)
            n = np.tanh(xt @ w_in.T + b_in + r * (h @ w_hn.T + b_hn))
            h = (1 - z) * n + z * h
            outs.append(h)
        layer_in = np.stack(outs, axis=1)
    out = layer_in
    fc = sorted({int(k.split(".")[1]) for k in sd if k.startswith("fc.")})
    for i, j in enumerate(fc):
        out = out @ sd[f"fc.{j}.weight"].astype(np.float64).T + sd[f"fc.{j}.bias"]
        if i < len(fc) - 1:
            out = ACTIVATIONS[activation](out)
    return out


def bce_with_logits(logits: np.ndarray, targets: np.ndarray) -> float:
    """Mean binary cross-entropy from logits (numerically stable form)."""
    z, y = np.asarray(logits, np.float64), np.asarray(targets, np.float64)
    return float(np.mean(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))))
