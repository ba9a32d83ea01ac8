"""Moved to :mod:`metalegnet.surface.placement` (kept so old imports keep working)."""

from metalegnet.surface.placement import (  # noqa: F401
    MODES,
    Placement,
    PlacementConfig,
    place_adsorbate,
    sample_site,
    solve_height,
)
