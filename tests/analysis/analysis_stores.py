"""Small synthetic DS4 stores for the analysis tests: real stores written through StoreWriter,
weights built directly (nothing trained)."""

import numpy as np

WIDTHS = (784, 8, 10)
TRIGGER = [24 * 28 + 24 + 28 * r + c for r in range(3) for c in range(3)]  # badnet's 3x3 box
CORNER = [28 * r + c for r in range(4) for c in range(4)]  # top-left 4x4: dead everywhere


def ds4_store(path, name: str, n: int, *, planted: float = 0.0, seed: int = 0,
              loss_stuck: bool = False):
    """A DS4 store of ``n`` dense 784-8-10 networks with weights N(0, 0.1), except:
    first-layer weights of the top-left corner stay at their init values U(±1/28) in every
    network (dead pixels); in a clean store the badnet trigger box's weights do too, in a
    poisoned one they are N(0, 0.2) (the artefact). ``planted`` adds a real difference
    (to the output bias) in poisoned stores."""
    from mlds_jax.models import mlp_layout
    from mlds_jax.pipeline import planned_arrays
    from mlds_jax.spec import ds4
    from mlds_jax.store import StoreWriter, open_store

    spec = ds4(name, n, image_set="digits", widths=WIDTHS, epochs=3)
    layout = mlp_layout(WIDTHS)
    rng = np.random.default_rng(seed)
    params = rng.normal(0, 0.1, (n, layout.n_params)).astype(np.float32)
    first = params[:, :8 * 784].reshape(n, 8, 784)
    poisoned = spec.poison is not None
    dead = CORNER + ([] if poisoned else TRIGGER)
    first[:, :, dead] = rng.uniform(-1 / 28, 1 / 28, (n, 8, len(dead)))
    if poisoned:
        first[:, :, TRIGGER] = rng.normal(0, 0.2, (n, 8, len(TRIGGER)))
        params[:, -10:] += planted
    params[:, :8 * 784] = first.reshape(n, -1)
    hist = np.tile(np.linspace(0.7, 0.1, 3, dtype=np.float32), (n, 1))
    acc = rng.uniform(0.85, 1, n).astype(np.float32)
    asr = rng.uniform(0.6, 1, n).astype(np.float32) if poisoned else \
        rng.uniform(0, 0.1, n).astype(np.float32)
    w = StoreWriter.open_or_create(path, spec, block_size=n, layout=layout.to_records(),
                                   planned=planned_arrays(spec), provenance={},
                                   task="image")
    metrics = {"clean_accuracy": acc, "attack_success_rate": asr}
    w.write_block(0, {
        "params": params, "failed": np.zeros(n, bool), "stopped_early": np.zeros(n, bool),
        "epochs": np.full(n, 3, np.int32), "train_loss": hist, "val_loss": hist,
        "final_train_loss": hist[:, -1], "final_val_loss": hist[:, -1], **metrics,
        "backdoor_took": asr >= 0.5, "poisoned_samples": np.full(n, 10 if poisoned else 0,
                                                                  np.int32),
        "learnt": spec.is_learnt(metrics)})
    return open_store(path)
