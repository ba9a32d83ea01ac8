"""Surfaces and adsorbates: site naming, placement, relaxation and relaxation anomalies.

Shared by the data generator (:mod:`metalegnet.data.generate`) and SEAM
(:mod:`metalegnet.seam`):

* :mod:`~metalegnet.surface.adsorbates`: the OC20 adsorbate set with binding atoms;
* :mod:`~metalegnet.surface.sites`: the site name (top, bridge, fcc, hcp, hollow-4, ...) of a
  binding atom;
* :mod:`~metalegnet.surface.placement`: AdsorbML random/heuristic placement and the
  covalent-radii height solver;
* :mod:`~metalegnet.surface.relax`: BFGS relaxation keeping every frame;
* :mod:`~metalegnet.surface.anomalies`: AdsorbML's anomaly checks (desorbed, dissociated,
  surface changed, intercalated, exploded);
* :mod:`~metalegnet.surface.detect`: surface atoms (tags or geometry);
* :mod:`~metalegnet.surface.motifs`: candidate sites (top, bridge, hollow-3, hollow-4);
* :mod:`~metalegnet.surface.environment`: a local adsorption environment in the surface frame;
* :mod:`~metalegnet.surface.registration`: normal-fixed rigid registration of environments.
"""

from metalegnet.surface.adsorbates import ADSORBATES, AdsorbateDef, get_adsorbate
from metalegnet.surface.anomalies import ANOMALIES, detect_anomalies
from metalegnet.surface.placement import Placement, PlacementConfig, place_adsorbate, solve_height
from metalegnet.surface.relax import RelaxConfig, RelaxResult, relax
from metalegnet.surface.sites import classify_site, substrate_neighbours, surface_normal

__all__ = [
    "ADSORBATES", "ANOMALIES", "AdsorbateDef", "Placement", "PlacementConfig", "RelaxConfig",
    "RelaxResult", "classify_site", "detect_anomalies", "get_adsorbate", "place_adsorbate",
    "relax", "solve_height", "substrate_neighbours", "surface_normal",
]
