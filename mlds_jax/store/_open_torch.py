"""PyTorch modules for stored networks (imported only by ``Store.to_torch``; needs torch).

The parameter names of a store's layout are these modules' ``state_dict`` keys, so a
network loads with ``load_state_dict(..., strict=True)`` and no renaming.
"""

from __future__ import annotations

import numpy as np

from mlds_jax.spec import IMAGE, SEQUENCE, task_of

try:
    import torch
except ImportError:
    raise ImportError("to_torch needs PyTorch: pip install torch") from None


def _activation(name: str) -> torch.nn.Module:
    return {"tanh": torch.nn.Tanh, "relu": torch.nn.ReLU,
            "leaky_relu": lambda: torch.nn.LeakyReLU(0.01)}[name]()


class GRUNet(torch.nn.Module):
    """``torch.nn.GRU`` (batch first) and a Linear head: ``x [batch, time, features]`` ->
    logits ``[batch, time, outputs]`` (the module spelled out in docs/store-format.md)."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int,
                 head: tuple[int, ...], output_size: int, head_activation: str = "tanh"):
        super().__init__()
        self.gru = torch.nn.GRU(input_size, hidden_size, num_layers=num_layers,
                                batch_first=True)
        widths, mods = [hidden_size, *head, output_size], []
        for a, b in zip(widths[:-1], widths[1:]):
            mods += [torch.nn.Linear(a, b), _activation(head_activation)]
        self.fc = torch.nn.Sequential(*mods[:-1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.gru(x)[0])


class DenseNet(torch.nn.Module):
    """DS4's dense network: ``Sequential(Linear, ReLU, ..., Linear)`` under ``.net``;
    ``x [batch, 784]`` (pixels / 255) -> logits ``[batch, 10]``."""

    def __init__(self, widths: tuple[int, ...]):
        super().__init__()
        mods: list[torch.nn.Module] = []
        for a, b in zip(widths[:-1], widths[1:]):
            mods += [torch.nn.Linear(a, b), torch.nn.ReLU()]
        self.net = torch.nn.Sequential(*mods[:-1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def _gru_net(spec) -> GRUNet:
    m = spec.model
    return GRUNet(m.input_size, m.hidden_size, m.num_layers, tuple(m.head), m.output_size,
                  m.head_activation)


# Each task's PyTorch module of one network.
TORCH_MODULES = {SEQUENCE: _gru_net, IMAGE: lambda spec: DenseNet(tuple(spec.widths))}


def build_module(task, spec, tensors: dict[str, np.ndarray]) -> torch.nn.Module:
    """The module for ``spec`` (of ``task``: a Task or its name) with ``tensors`` (a layout's
    named arrays) loaded, eval mode."""
    module: torch.nn.Module = TORCH_MODULES[task_of(task)](spec)
    module.load_state_dict({k: torch.from_numpy(np.array(v, np.float32))
                            for k, v in tensors.items()}, strict=True)
    return module.eval()
