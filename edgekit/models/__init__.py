"""Bundled models (``models/``) and the catalog of public models fetched on demand.

- :func:`bundled_model_path` / :func:`bundled_eval_path` / :func:`bundled_calibration_path`:
  files committed under ``models/`` (e.g. ``"digits"``).
- :func:`edgekit.models.catalog.load_catalog`: the entries of ``models/catalog.toml``.
- :func:`edgekit.models.pull.pull`: download, verify (sha256) and cache a catalog model.
"""

from edgekit.models.bundled import (
    bundled_calibration_path,
    bundled_eval_path,
    bundled_model_path,
    bundled_models,
)

__all__ = ["bundled_calibration_path", "bundled_eval_path", "bundled_model_path", "bundled_models"]
