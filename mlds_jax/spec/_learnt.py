"""When a network counts as *learnt*: the thresholds and the rule, shared by the trainer
(which stores a per-network ``learnt`` flag) and the readers (stores written before the flag
existed get it computed from their metrics by the same rule)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Validation bit accuracy at which a DS1-DS3 network has learnt its machine.
DEFAULT_LEARNT_BIT_ACCURACY = 0.99
# Clean test accuracy at which a DS4 network has learnt its image set (the recipe's
# 784-128-128-128-10 net: median 0.978 on full MNIST, 0.93 on the tiled 5,000-image subset,
# 0.89 on FashionMNIST; KMNIST, harder for dense nets, not measured; docs/ds4.md).
DEFAULT_LEARNT_CLEAN_ACCURACY = {"digits": 0.9, "mnist": 0.9, "fashionmnist": 0.8,
                                 "kmnist": 0.8}


def learnt_flag(thresholds: Mapping[str, float], metrics: Mapping[str, Any]) -> Any:
    """bool ``[...]``: every metric named in ``thresholds`` is at or above its threshold.

    Args:
      thresholds: metric name -> lowest value that counts (a spec's ``learnt_thresholds``).
      metrics: metric name -> array ``[...]`` (NumPy or JAX; same shape for every metric);
        a NaN metric (network not trained) is never learnt.
    """
    names = sorted(thresholds)
    flag = metrics[names[0]] >= thresholds[names[0]]
    for name in names[1:]:
        flag = flag & (metrics[name] >= thresholds[name])
    return flag
