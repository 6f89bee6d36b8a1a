"""Zarr v3 dataset stores: schema, one-writer-per-chunk writer, reader."""

from mlds_jax.store._card import dataset_card, epoch_cap_note
from mlds_jax.store._expected import expected_arrays, planned_arrays
from mlds_jax.store._finish import consolidate, finish_store
from mlds_jax.store._lock import writer_lock
from mlds_jax.store._open import Network, Store, metrics_from_logits, netcdf_attrs, open_store
from mlds_jax.store._pack import check_pack, pack_store
from mlds_jax.store._paths import check_distinct, check_output_path
from mlds_jax.store._reader import StoreView, band, progress_total, read_root_attrs
from mlds_jax.store._schema import (
    DONE,
    FAILED,
    PENDING,
    RECORDING_ARRAYS,
    STATUS_CODES,
    block_results,
    cf_attributes,
    chunk_compressors,
    headline_metric,
    per_network_arrays,
    recorded_arrays,
    recorded_results,
    recording_of,
)
from mlds_jax.store._setup import check_same_setup, setup_differences, stored_chunk_width
from mlds_jax.store._shards import storage_chunks
from mlds_jax.store._verify import StoreCheck, check_store, verify
from mlds_jax.store._writer import StoreWriter

__all__ = [
    "DONE",
    "FAILED",
    "PENDING",
    "RECORDING_ARRAYS",
    "STATUS_CODES",
    "Network",
    "Store",
    "StoreCheck",
    "StoreView",
    "StoreWriter",
    "band",
    "block_results",
    "cf_attributes",
    "check_pack",
    "check_same_setup",
    "check_distinct",
    "check_output_path",
    "check_store",
    "chunk_compressors",
    "consolidate",
    "dataset_card",
    "epoch_cap_note",
    "expected_arrays",
    "finish_store",
    "metrics_from_logits",
    "netcdf_attrs",
    "open_store",
    "pack_store",
    "headline_metric",
    "per_network_arrays",
    "planned_arrays",
    "progress_total",
    "read_root_attrs",
    "recorded_arrays",
    "recorded_results",
    "recording_of",
    "setup_differences",
    "storage_chunks",
    "stored_chunk_width",
    "verify",
    "writer_lock",
]
