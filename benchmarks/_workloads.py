"""The benchmark workloads, and their FLOPs per network-step counted from shapes.

Training FLOPs are counted as 3 x the forward pass's multiply-adds x 2 (the usual estimate:
the backward pass costs about twice the forward). Element-wise work (gates, activations,
Adam) is not counted, so achieved GFLOP/s slightly understate the work done.
"""

from __future__ import annotations

from mlds_jax.spec import DS4_WIDTHS


class GRU:
    """DS1 network: 4 GRU layers (hidden 12) + head 27-14-8-1; batch 64 x 16 steps."""

    input, hidden, layers, head, output = 5, 12, 4, (27, 14, 8), 1
    batch, time = 64, 16

    @classmethod
    def flops_per_step(cls) -> float:
        h = cls.hidden
        per_token = 0
        for k in range(cls.layers):
            inp = cls.input if k == 0 else h
            per_token += 2 * 3 * h * (inp + h)
        w = [h, *cls.head, cls.output]
        per_token += sum(2 * a * b for a, b in zip(w[:-1], w[1:]))
        return 3.0 * per_token * cls.batch * cls.time


class MLP:
    """DS4-style dense network 784-32-10, batch 128, per-network data order."""

    widths = (784, 32, 10)
    batch = 128
    n_images = 8192

    @classmethod
    def flops_per_step(cls) -> float:
        w = cls.widths
        return 3.0 * sum(2 * a * b for a, b in zip(w[:-1], w[1:])) * cls.batch


class DS4Net(MLP):
    """DS4's recipe network (``mlds_jax.spec.DS4_WIDTHS``: 784-128-128-128-10), batch 128,
    per-network data order: the dense network ``generate`` trains for a DS4 dataset."""

    widths = DS4_WIDTHS


DENSE = {"mlp": MLP, "ds4": DS4Net}
"""Dense workloads by name: the network of the ``mlp`` and ``ds4`` benchmark tables."""
