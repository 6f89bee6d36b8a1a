"""``python -m mlds_jax.models``: build the fused CPU GRU kernel into the cache and print its
path (exit status 1 and one line on stderr where it cannot be built)."""

from __future__ import annotations

import sys

from mlds_jax.models._fused_gru_build import prebuild


def main() -> int:
    try:
        print(prebuild())
    except RuntimeError as e:  # KernelBuildError included
        print(f"mlds_jax: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
