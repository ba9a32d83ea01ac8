"""Moved to :mod:`metalegnet.surface.sites` (kept so old imports keep working)."""

from metalegnet.surface.sites import (  # noqa: F401
    BELOW_TOL,
    BOND_MULT,
    SHELL,
    classify_site,
    substrate_neighbours,
    surface_normal,
)
