"""Generated data: OC20-style relaxation trajectories labelled by a physics oracle.

Systems (0D nanoclusters, 3D metal/alloy slabs, 2D sheets, oxides) come from presets or named
benchmark recipes; adsorbates are placed at random sites (AdsorbML random placement), relaxed
with BFGS on an oracle (EMT, SevenNet-0, CHGNet) and written as extxyz with energies (eV),
forces (eV/Å), tags, FixAtoms, ``sid``/``fid`` and adsorption energies ``e_ads`` (eV).

Entry points: :func:`generate` with a :class:`GenerateConfig`, or the CLI
``metalegnet data generate``. Adsorbates, placement, site names, relaxation and anomaly checks
live in :mod:`metalegnet.surface` (shared with SEAM).
"""

from metalegnet.data.generate.plan import PlanConfig, make_plan
from metalegnet.data.generate.presets import PresetConfig, build_system
from metalegnet.data.generate.recipes import RECIPES, get_recipe
from metalegnet.data.generate.runner import GenerateConfig, GenerateReport, generate
from metalegnet.surface.adsorbates import ADSORBATES, AdsorbateDef, get_adsorbate
from metalegnet.surface.placement import PlacementConfig, place_adsorbate
from metalegnet.surface.relax import RelaxConfig, relax

__all__ = [
    "ADSORBATES", "AdsorbateDef", "GenerateConfig", "GenerateReport", "PlacementConfig",
    "PlanConfig", "PresetConfig", "RECIPES", "RelaxConfig", "build_system", "generate",
    "get_adsorbate", "get_recipe", "make_plan", "place_adsorbate", "relax",
]
