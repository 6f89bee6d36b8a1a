"""Run settings that are not part of a dataset's spec (they never change a network)."""

# Networks per block (and per store chunk along `network`) unless told otherwise: on a CPU
# the DS1 GRU's rate per network falls with larger blocks (docs/benchmarks.md).
DEFAULT_BLOCK_SIZE = 64
