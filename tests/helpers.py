"""Small specs and helpers shared by tests."""

from mlds_jax.spec import ds1


def tiny_ds1(per_class: int = 2, **train):
    """A DS1 spec small enough to compile and train in seconds (same 4,364-parameter network)."""
    defaults = dict(batch_size=8, seq_len=8, n_train=16, n_val=16, max_epochs=4)
    return ds1(per_class, **{**defaults, **train})
