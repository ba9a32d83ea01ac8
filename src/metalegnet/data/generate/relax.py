"""Moved to :mod:`metalegnet.surface.relax` (kept so old imports keep working)."""

from metalegnet.surface.relax import (  # noqa: F401
    BFGS,
    RelaxConfig,
    RelaxResult,
    relax,
    snapshot,
)
