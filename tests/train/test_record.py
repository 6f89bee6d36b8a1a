"""Snapshots along training and probe outputs (spec train.snapshot_epochs / probes): they
record without changing a network, a snapshot at epoch e is the state a run stopped after
e epochs holds, and probe outputs are the network run on the probe set at that snapshot."""

import dataclasses

import jax
import numpy as np
import pytest
from helpers import fake_image_data, tiny_ds1

from mlds_jax.errors import SpecError
from mlds_jax.models import apply_gru_batch, apply_mlp, mlp_layout
from mlds_jax.spec import DatasetSpec, default_snapshot_epochs, ds4, probe_count, snapshot_schedule
from mlds_jax.train import (
    image_probe_index,
    make_runner,
    network_inputs,
    probe_set,
    sequence_probe_inputs,
)


def _recording(spec, snapshot_epochs=None, probes=None):
    train = dataclasses.replace(spec.train, snapshot_epochs=snapshot_epochs, probes=probes)
    return dataclasses.replace(spec, train=train)


def _mixed_spec():
    """Easy machines stop early (so later slots are flagged), Parity runs to the cap."""
    base = tiny_ds1(per_class=2, max_epochs=6, stop_val_loss=0.68, n_train=32)
    return DatasetSpec(name="mix", classes=("SingleDirectMachine", "ParityMachine"),
                       per_class=2, train=base.train)


def test_default_schedule_and_validation():
    assert default_snapshot_epochs(20) == (0, 1, 2, 4, 8, 16, 20)
    assert default_snapshot_epochs(16) == (0, 1, 2, 4, 8, 16)
    spec = tiny_ds1(max_epochs=6)
    assert snapshot_schedule(spec.train) == (0, 1, 2, 4, 6) and probe_count(spec) == 32
    none = _recording(spec, "none")
    assert snapshot_schedule(none.train) == () and probe_count(none) == 0
    assert DatasetSpec.from_dict(none.to_dict()) == none  # "none" is stored as []
    with pytest.raises(SpecError, match=r"TrainSpec.snapshot_epochs.*\[0, 6\]"):
        _recording(spec, (0, 7))
    with pytest.raises(SpecError, match="strictly increasing"):
        _recording(spec, (2, 1))
    with pytest.raises(SpecError, match="TrainSpec.probes"):
        _recording(spec, probes=-1)


def test_recording_fields_change_no_digest_key_or_float():
    spec = _mixed_spec()
    other = _recording(spec, (0, 3), probes=4)
    assert "snapshot_epochs" not in spec.to_dict()["train"]  # unset: the dict of before
    assert other.digest == spec.digest == _recording(spec, "none").digest
    inputs = network_inputs(spec, np.arange(4))
    a = make_runner(spec, width=4).train(inputs, spec.train.epoch_cap)
    b = make_runner(_recording(spec, "none"), width=4).train(inputs, spec.train.epoch_cap)
    assert b.snapshot_params.shape == (4, 0, a.params.shape[1])
    for field in ("params", "val_loss", "epochs"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field), err_msg=field)


def test_sequence_snapshots_equal_stopped_runs_and_probes_equal_their_outputs():
    spec = _mixed_spec()
    runner = make_runner(spec, width=4)
    inputs = network_inputs(spec, np.arange(4))
    full = runner.train(inputs, spec.train.epoch_cap)
    epochs = snapshot_schedule(spec.train)
    assert full.snapshot_params.shape == (4, len(epochs), full.params.shape[1])
    assert full.epochs.min() < 6 and full.epochs.max() == 6  # some stopped early
    for k, e in enumerate(epochs):
        chunks = runner.split(inputs)
        states = runner.init(chunks)
        if e:
            states = runner.segment(chunks, states, e)  # a checkpointed run after epoch e
        held = np.asarray(states[0].params)
        np.testing.assert_array_equal(full.snapshot_params[:, k], held, err_msg=f"epoch {e}")
        np.testing.assert_array_equal(full.snapshot_reached[:, k], e <= full.epochs)
    # a network that stopped before a snapshot epoch records its final weights there, flagged
    late = ~full.snapshot_reached
    assert late.any()
    np.testing.assert_array_equal(full.snapshot_params[late],
                                  np.broadcast_to(full.params[:, None], late.shape + (
                                      full.params.shape[1],))[late])
    # probe outputs: the network at each snapshot run on the spec's probe sequences
    x = sequence_probe_inputs(spec)
    assert x.shape == (32, spec.train.seq_len, 5)
    np.testing.assert_array_equal(probe_set(spec)["inputs"], x)
    evaluate = jax.jit(lambda p: apply_gru_batch(p, x, spec.model))  # one snapshot alone
    for i, k in np.ndindex(full.probe_outputs.shape[:2]):
        np.testing.assert_array_equal(full.probe_outputs[i, k],
                                      evaluate(full.snapshot_params[i, k]), err_msg=f"{i} {k}")


def test_image_snapshots_and_probe_outputs():
    data = fake_image_data(256, n_test=40)
    spec = ds4("MNISTbadnet_alpha10", 2, image_set="digits", widths=(784, 8, 10), epochs=3)
    spec = _recording(spec, probes=6)
    runner = make_runner(spec, data, width=2)
    inputs = network_inputs(spec, np.arange(2))
    full = runner.train(inputs, 3)
    assert full.probe_outputs.shape == (2, 4, 12, 10)  # epochs 0, 1, 2, 3; 6 clean + 6 trig
    for k, e in enumerate((0, 1, 2, 3)):
        chunks = runner.split(inputs)
        states = runner.init(chunks)
        if e:
            states = runner.segment(chunks, states, e)
        np.testing.assert_array_equal(full.snapshot_params[:, k], np.asarray(states[0].params))
    # a run in one-epoch segments (checkpointed) records the same, and a schedule that ends
    # before the cap (epoch 3 trained after the last slot) or none at all changes no weight
    chunks = runner.split(inputs)
    states = runner.init(chunks)
    for _ in range(3):
        states = runner.segment(chunks, states, 1)
    pieces = runner.finish(chunks, states)[0]
    for field in ("params", "snapshot_params", "snapshot_reached", "probe_outputs"):
        np.testing.assert_array_equal(getattr(pieces, field), getattr(full, field), field)
    for other in ((1,), "none"):
        got = make_runner(_recording(spec, other, 6), data, width=2).train(inputs, 3)
        np.testing.assert_array_equal(got.params, full.params, err_msg=str(other))
        if other == (1,):
            np.testing.assert_array_equal(got.snapshot_params[:, 0], full.snapshot_params[:, 1])
    idx = image_probe_index(spec, 40)
    assert idx.size == 6 and np.array_equal(idx, np.unique(idx))
    probes = probe_set(spec, data)
    np.testing.assert_array_equal(probes["inputs"], np.concatenate([data.test_x[idx],
                                                                    data.test_trig[idx]]))
    assert probes["triggered"].tolist() == [False] * 6 + [True] * 6
    # One snapshot alone is another XLA program than the recorder's (networks vmapped): its
    # 784-term sums may be added in another order, and were on an AMD EPYC (AVX2), not on an
    # Intel Xeon. Both must lie within float32's rounding bound of the exact logits.
    x = probes["inputs"].astype(np.float32) * np.float32(1 / 255)
    evaluate = jax.jit(lambda p: apply_mlp(p, x, spec.widths))
    for i, k in np.ndindex(full.probe_outputs.shape[:2]):
        exact, bound = _mlp_logits_and_rounding_bound(full.snapshot_params[i, k], x, spec.widths)
        for got in (full.probe_outputs[i, k], evaluate(full.snapshot_params[i, k])):
            assert np.all(np.abs(np.asarray(got, np.float64) - exact) <= bound), f"{i} {k}"
        if k:  # ... and is tight enough that a neighbouring snapshot's outputs lie outside it
            assert np.any(np.abs(full.probe_outputs[i, k - 1] - exact) > bound), f"{i} {k}"


def _mlp_logits_and_rounding_bound(flat, x, widths):
    """Exact (float64) logits of an MLP ``[batch, out]`` and a bound on how far float32
    evaluation in any summation order (FMA or not) can land from them: a sum of ``n`` products
    is within ``gamma_n * sum |a_i b_i|`` (Higham, Thm 3.1; ``gamma_n = n u / (1 - n u)``,
    ``u = 2**-24``); an input already ``e`` off moves a layer by at most ``e @ |W|.T``, and
    ReLU does not grow an error."""
    p = {n: np.asarray(v, np.float64) for n, v in mlp_layout(widths).unflatten(
        np.asarray(flat)).items()}
    u = 2.0**-24
    h, err = np.asarray(x, np.float64), np.zeros(x.shape)
    for j in range(len(widths) - 1):
        w, b = p[f"net.{2 * j}.weight"], p[f"net.{2 * j}.bias"]
        n = w.shape[1] + 1
        gamma = n * u / (1 - n * u)
        err = err @ np.abs(w).T + gamma * ((np.abs(h) + err) @ np.abs(w).T + np.abs(b))
        h = h @ w.T + b
        if j < len(widths) - 2:
            h = np.maximum(h, 0)
    return h, err
