"""Moved to :mod:`metalegnet.surface.adsorbates` (kept so old imports keep working)."""

from metalegnet.surface.adsorbates import (  # noqa: F401
    ADSORBATES,
    FEWSHOT_EXTRA,
    OC20_COMMON,
    AdsorbateDef,
    get_adsorbate,
)
