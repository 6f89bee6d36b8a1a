__version__ = "0.1.0"
"""The package version (``mlds-jax --version``; stored in every store's provenance)."""
