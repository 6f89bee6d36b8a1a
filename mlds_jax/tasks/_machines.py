"""Mealy machines as tables over one shared bit-vector encoding, and their simulator.

A machine is two integer tables over ``n_states`` states and ``n_inputs = 2**input_bits``
input symbols::

    next_state[state, symbol] -> state        # int32 [n_states, n_inputs]
    output[state, symbol]     -> out symbol   # int32 [n_states, n_inputs]

An input symbol is the integer whose bit ``i`` is input feature ``i``; an output symbol is
decoded to ``output_bits`` bits the same way. The machine starts in state 0.

The DS1 encoding (reconstructed; see docs/machines.md) has ``input_bits = 5``::

    bit 0: write-enable (we)     bit 1: data (d)     bits 2..4: address (a, for EightBit)

and ``output_bits = 1``. Machines that do not use the address ignore those bits.
"""

from __future__ import annotations

import dataclasses
import itertools

import jax
import jax.numpy as jnp
import numpy as np

from mlds_jax.errors import SpecError, UnknownDatasetError
from mlds_jax.spec import DS1_CLASSES, DS2_CLASSES

# Bits per input symbol (we, d, a2 a1 a0) and per output symbol of the DS1/DS2 machines.
INPUT_BITS = 5
OUTPUT_BITS = 1
WE, DATA = 0, 1
ADDR = (2, 3, 4)


@dataclasses.dataclass(frozen=True, eq=False)
class MealyMachine:
    """A deterministic Mealy machine given by its tables.

    Attributes:
      name: catalogue name, e.g. ``"SingleDirectMachine"``.
      next_state: int32 ``[n_states, n_inputs]``.
      output: int32 ``[n_states, n_inputs]``, values in ``[0, 2**output_bits)``.
      input_bits: width of the input bit vector.
      output_bits: width of the output bit vector.
      description: one paragraph saying what the machine does.
    """

    name: str
    next_state: np.ndarray
    output: np.ndarray
    input_bits: int = INPUT_BITS
    output_bits: int = OUTPUT_BITS
    description: str = ""

    def __post_init__(self) -> None:
        ns, out = np.asarray(self.next_state), np.asarray(self.output)
        n_inputs = 2**self.input_bits
        if ns.ndim != 2 or ns.shape[1] != n_inputs:
            raise SpecError(
                f"MealyMachine({self.name}).next_state: expected shape [n_states, {n_inputs}], "
                f"got {ns.shape}"
            )
        if out.shape != ns.shape:
            raise SpecError(
                f"MealyMachine({self.name}).output: expected shape {ns.shape} like next_state, "
                f"got {out.shape}"
            )
        if ns.min() < 0 or ns.max() >= ns.shape[0]:
            raise SpecError(f"MealyMachine({self.name}).next_state: states out of range")
        if out.min() < 0 or out.max() >= 2**self.output_bits:
            raise SpecError(f"MealyMachine({self.name}).output: symbols out of range")
        object.__setattr__(self, "next_state", ns.astype(np.int32))
        object.__setattr__(self, "output", out.astype(np.int32))

    @property
    def n_states(self) -> int:
        """Number of states."""
        return int(self.next_state.shape[0])

    @property
    def n_inputs(self) -> int:
        """Number of input symbols (``2 ** input_bits``)."""
        return int(self.next_state.shape[1])

    def run(self, inputs: np.ndarray) -> np.ndarray:
        """NumPy reference simulation: bits ``[time, input_bits]`` -> ``[time, output_bits]``."""
        bits = np.asarray(inputs, dtype=np.int64)
        symbols = bits @ (1 << np.arange(self.input_bits))
        state, outs = 0, []
        for s in symbols:
            outs.append(self.output[state, s])
            state = self.next_state[state, s]
        return decode_bits(np.asarray(outs), self.output_bits)


def decode_bits(symbols: np.ndarray, n_bits: int) -> np.ndarray:
    """Integer symbols ``[...]`` -> bits ``[..., n_bits]`` (bit ``i`` is ``(s >> i) & 1``)."""
    return (np.asarray(symbols)[..., None] >> np.arange(n_bits)) & 1


def simulate(next_state: jax.Array, output: jax.Array, inputs: jax.Array) -> jax.Array:
    """Runs one machine on one input sequence; jittable and vmappable over every argument.

    Args:
      next_state: int32 ``[n_states, n_inputs]``.
      output: int32 ``[n_states, n_inputs]``.
      inputs: bits ``[time, input_bits]`` (any numeric dtype holding 0/1).

    Returns:
      int32 output symbols ``[time]``.
    """
    input_bits = inputs.shape[-1]
    weights = jnp.left_shift(1, jnp.arange(input_bits, dtype=jnp.int32))
    symbols = jnp.sum(inputs.astype(jnp.int32) * weights[None, :], axis=-1)

    def step(state, sym):
        return next_state[state, sym], output[state, sym]

    _, outs = jax.lax.scan(step, jnp.zeros((), jnp.int32), symbols)
    return outs


def _symbols() -> list[dict[str, int]]:
    """All input symbols of the DS1 encoding, decoded into named fields."""
    out = []
    for sym in range(2**INPUT_BITS):
        bit = [(sym >> i) & 1 for i in range(INPUT_BITS)]
        addr = sum(bit[b] << k for k, b in enumerate(ADDR))
        out.append({"we": bit[WE], "d": bit[DATA], "a": addr})
    return out


def _tabulate(states: list, step) -> tuple[np.ndarray, np.ndarray]:
    """Builds tables from ``step(state, we, d, a) -> (next_state, output_bit)``."""
    index = {s: i for i, s in enumerate(states)}
    syms = _symbols()
    ns = np.zeros((len(states), len(syms)), np.int32)
    out = np.zeros_like(ns)
    for i, s in enumerate(states):
        for j, c in enumerate(syms):
            nxt, o = step(s, c["we"], c["d"], c["a"])
            ns[i, j], out[i, j] = index[nxt], o
    return ns, out


def _single_direct() -> MealyMachine:
    def step(s, we, d, a):
        n = d if we else s
        return n, n

    return MealyMachine(
        "SingleDirectMachine",
        *_tabulate([0, 1], step),
        description="One stored bit. we=1 stores d. Output: the stored bit after the command.",
    )


def _single_invert() -> MealyMachine:
    def step(s, we, d, a):
        n = d if we else s
        return n, 1 - n

    return MealyMachine(
        "SingleInvertMachine",
        *_tabulate([0, 1], step),
        description="One stored bit. we=1 stores d. Output: NOT the stored bit after the command.",
    )


def _simple_xor() -> MealyMachine:
    def step(s, we, d, a):
        return (d if we else s), s ^ d

    return MealyMachine(
        "SimpleXORMachine",
        *_tabulate([0, 1], step),
        description=(
            "One stored bit s. Output: s XOR d, with s as stored before the command; "
            "then we=1 stores d."
        ),
    )


def _parity() -> MealyMachine:
    def step(s, we, d, a):
        n = s ^ (d & we)
        return n, n

    return MealyMachine(
        "ParityMachine",
        *_tabulate([0, 1], step),
        description=(
            "Running parity. we=1 folds d into the parity (XOR). Output: the parity of all "
            "data bits written so far, this command included."
        ),
    )


def _eight_bit() -> MealyMachine:
    states = [tuple(bits) for bits in itertools.product((0, 1), repeat=8)]

    def step(s, we, d, a):
        n = tuple(d if (we and k == a) else v for k, v in enumerate(s))
        return n, n[a]

    return MealyMachine(
        "EightBitMachine",
        *_tabulate(states, step),
        description=(
            "An 8-bit memory addressed by a (bits 2..4). we=1 writes d to cell a. "
            "Output: cell a after the command."
        ),
    )


_DS1_BUILDERS = {
    "ParityMachine": _parity,
    "EightBitMachine": _eight_bit,
    "SimpleXORMachine": _simple_xor,
    "SingleDirectMachine": _single_direct,
    "SingleInvertMachine": _single_invert,
}

# The class lists (and their order) have one source: the recipes in ``mlds_jax.spec``.
DS1_MACHINES: tuple[str, ...] = DS1_CLASSES
if set(DS1_CLASSES) != set(_DS1_BUILDERS):
    raise ImportError(f"DS1 classes {DS1_CLASSES} and machines {tuple(_DS1_BUILDERS)} differ")


# DS2: each DS1 machine with a small, trojan-like edit that fires only on one rare input
# symbol (1 of 32). TRIGGERS documents, per machine, the (we, d, a) that fires it and what
# changes; `tests/tasks/test_modified.py` checks the tables differ exactly there.
def _modified(base: MealyMachine, name: str, trigger: tuple[int, int, int], edit,
              description: str) -> MealyMachine:
    """Copies ``base`` and applies ``edit(state_index, base_next, base_out) -> (next, out)``
    on the trigger symbol only."""
    we, d, a = trigger
    sym = we | (d << DATA) | sum(((a >> k) & 1) << b for k, b in enumerate(ADDR))
    ns, out = base.next_state.copy(), base.output.copy()
    for st in range(base.n_states):
        ns[st, sym], out[st, sym] = edit(st, int(ns[st, sym]), int(out[st, sym]))
    return MealyMachine(name, ns, out, description=description)


def _flip_output(st, nxt, out):
    return nxt, 1 - out


# Each DS2 machine: (its DS1 original, the (we, d, address) input that behaves differently,
# what it does instead).
TRIGGERS: dict[str, tuple[str, tuple[int, int, int], str]] = {
    "SingleDirectModified": ("SingleDirectMachine", (0, 1, 7),
                             "a read (we=0) with d=1 at address 7 outputs NOT s"),
    "SingleInvertModified": ("SingleInvertMachine", (0, 1, 7),
                             "a read (we=0) with d=1 at address 7 outputs s, not inverted"),
    "SimpleXORModified": ("SimpleXORMachine", (1, 0, 7),
                          "a write of d=0 at address 7 outputs NOT (s XOR d)"),
    "ParityModified": ("ParityMachine", (1, 1, 7),
                       "a write of d=1 at address 7 does not toggle the parity"),
    "EightBitModified": ("EightBitMachine", (1, 1, 7),
                         "cell 7 is stuck at 0: writing d=1 to address 7 is ignored"),
}


def _build_modified(name: str) -> MealyMachine:
    base_name, trigger, what = TRIGGERS[name]
    base = _DS1_BUILDERS[base_name]()
    if name == "ParityModified":
        def edit(st, nxt, out):  # parity (the state) unchanged, and output as is
            return st, st
    elif name == "EightBitModified":
        def edit(st, nxt, out):  # memory unchanged; output cell 7 (bit 0 of the state index)
            return st, st & 1
    else:
        edit = _flip_output
    return _modified(base, name, trigger, edit, f"{base.description} Modified: {what}.")


_BUILDERS = {**_DS1_BUILDERS, **{n: (lambda n=n: _build_modified(n)) for n in TRIGGERS}}
# The DS2 machine names (``spec.DS2_CLASSES``, checked against the builders).
DS2_MACHINES: tuple[str, ...] = DS2_CLASSES
if set(DS2_CLASSES) != set(TRIGGERS):
    raise ImportError(f"DS2 classes {DS2_CLASSES} and modified machines {tuple(TRIGGERS)} differ")


def get_machine(name: str) -> MealyMachine:
    """Returns the built-in machine called ``name`` (e.g. ``"ParityMachine"``)."""
    try:
        return _BUILDERS[name]()
    except KeyError:
        raise UnknownDatasetError(
            f"unknown machine {name!r}; known machines: {', '.join(sorted(_BUILDERS))}"
        ) from None


def stack_tables(machines: list[MealyMachine]) -> tuple[np.ndarray, np.ndarray]:
    """Pads machines to a common state count and stacks them.

    Returns:
      ``(next_state, output)``, each int32 ``[n_classes, max_states, n_inputs]``. Padding rows
      are self-loops emitting 0 and are unreachable from state 0.
    """
    if len({m.n_inputs for m in machines}) != 1:
        raise SpecError("stack_tables: machines use different input encodings")
    s_max = max(m.n_states for m in machines)
    n_in = machines[0].n_inputs
    ns = np.zeros((len(machines), s_max, n_in), np.int32)
    out = np.zeros_like(ns)
    for k, m in enumerate(machines):
        ns[k] = np.arange(s_max)[:, None]
        ns[k, : m.n_states] = m.next_state
        out[k, : m.n_states] = m.output
    return ns, out
