"""Moved to :mod:`metalegnet.surface.anomalies` (kept so old imports keep working)."""

from metalegnet.surface.anomalies import (  # noqa: F401
    ADSORBATE_BOND_MULT,
    ANOMALIES,
    DESORPTION_MULT,
    MAX_ENERGY_PER_ATOM,
    MAX_FORCE,
    SURFACE_BOND_MULT,
    SURFACE_CUSHION,
    connectivity,
    detect_anomalies,
    drop_exploded_labels,
    frame_exploded,
    has_surface_changed,
    is_desorbed,
    is_dissociated,
    is_intercalated,
)
