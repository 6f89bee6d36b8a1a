"""Test-wide JAX settings: rank promotion raises, so a [n_models] vector silently broadcast
against [n_models, batch] becomes an error instead of a wrong answer."""

import jax

jax.config.update("jax_numpy_rank_promotion", "raise")
