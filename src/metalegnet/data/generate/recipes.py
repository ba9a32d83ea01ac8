"""Named, deterministic benchmark sets: a preset, a size, a seed and an adsorbate pool.

The same recipe and oracle always give the same plan (and, with a deterministic oracle such as
EMT, the same files). EMT keeps only atomic adsorbates intact: its H, C, N, O parameters make
every polyatomic adsorbate we tried fall apart on Pt and Cu (flagged ``dissociated``), so with
``emt`` a recipe uses the atomic pool H, O, N, C; with an ML oracle it uses the full pool.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from metalegnet.data.generate.plan import PlanConfig
from metalegnet.data.generate.presets import PresetConfig
from metalegnet.errors import ConfigError
from metalegnet.surface.adsorbates import FEWSHOT_EXTRA, OC20_COMMON

#: The adsorbates EMT keeps intact.
ATOMIC = ("H", "O", "N", "C")
#: The polyatomic pool of the ML-oracle benchmark sets (bench-3d-ml, bench-0d-ml).
ML_POOL = ("OH", "CO", "CH3", "NH2", "CHO", "OCH3", "NO", "CH2CO", "H", "O")
#: Metals of the 0D few-shot setting (source clusters and trimetallic targets).
CLUSTER_METALS = ("Ni", "Cu", "Pd", "Ag", "Pt", "Au")


@dataclass(frozen=True)
class Recipe:
    """A named benchmark set.

    Attributes:
        name: the recipe name (also the prefix of its ``system_id``/``sid``).
        description: one line for ``--list``.
        preset: the preset it draws from.
        n: number of trajectories.
        seed: its fixed seed.
        adsorbates_per_system, placements_per_adsorbate: tasks per system, samples per task.
        emt_adsorbates: adsorbate pool with the EMT oracle.
        ml_adsorbates: adsorbate pool with an ML oracle.
        default_oracle: the oracle used when none is given.
        preset_config: options of the preset.
    """

    name: str
    description: str
    preset: str
    n: int
    seed: int
    adsorbates_per_system: int
    placements_per_adsorbate: int
    emt_adsorbates: tuple[str, ...] = ATOMIC
    ml_adsorbates: tuple[str, ...] = OC20_COMMON
    default_oracle: str = "emt"
    preset_config: PresetConfig = field(default_factory=PresetConfig)

    def plan(self, oracle: str, n: int | None = None) -> PlanConfig:
        """The plan of this recipe for ``oracle`` (``n`` < the recipe size: its prefix)."""
        pool = self.emt_adsorbates if oracle == "emt" else self.ml_adsorbates
        return PlanConfig(preset=self.preset, n=n or self.n, seed=self.seed, adsorbates=pool,
                          adsorbates_per_system=self.adsorbates_per_system,
                          placements_per_adsorbate=self.placements_per_adsorbate,
                          prefix=self.name, preset_config=self.preset_config)


RECIPES: dict[str, Recipe] = {r.name: r for r in (
    Recipe("bench-0d", "0D nanoclusters (13-79 atoms, mono/bimetallic): 30 systems x 2 "
           "adsorbates x 4 placements", "nanocluster", 240, 2024, 2, 4,
           preset_config=PresetConfig(max_cluster_atoms=79)),
    Recipe("bench-3d", "3D metal and alloy slabs (pure, L1_2, L1_0, random): 30 systems x 2 "
           "adsorbates x 4 placements", "alloy-surface", 240, 2025, 2, 4),
    Recipe("bench-fewshot", "few-shot tasks: 36 fcc metal/alloy surfaces x 2 adsorbates = 72 "
           "catalyst-adsorbate tasks of 5 placements", "alloy-surface", 360, 2026, 2, 5,
           ml_adsorbates=("O", "OH", "CO", "CH3", "CHO", "NH2", *FEWSHOT_EXTRA),
           preset_config=PresetConfig(groups=("fcc-pure", "fcc-L12", "fcc-L10",
                                              "fcc-random"))),
    Recipe("bench-3d-ml", "3D metal and alloy slabs with polyatomic adsorbates (OH, CO, CH3, "
           "NH2, CHO, OCH3, NO, CH2CO, ...), ML-oracle labels: 12 systems x 2 adsorbates x 4 "
           "placements; the embedded 'bench-3d-ml' set is its SevenNet-0 run, frames "
           "subsampled", "alloy-surface", 96, 2030, 2, 4,
           ml_adsorbates=ML_POOL, default_oracle="sevennet"),
    Recipe("fewshot-3d-ml", "few-shot target of the paper's 3D setting: CHOHCH2OH on fcc "
           "metal/alloy slabs of metals the bench-3d-ml source has (Pt, Ir, Cu, Ni, Al, Au), "
           "ML-oracle labels: 2 systems x 1 adsorbate x 6 placements", "alloy-surface", 12,
           2031, 1, 6, ml_adsorbates=("CHOHCH2OH",), default_oracle="sevennet",
           preset_config=PresetConfig(metals=("Pt", "Ir", "Cu", "Ni", "Al", "Au"))),
    Recipe("bench-0d-ml", "0D mono- and bimetallic nanoclusters (19-39 atoms) of Ni, Cu, "
           "Pd, Ag, Pt, Au with polyatomic adsorbates (OH, CO, CH3, NH2, CHO, OCH3, NO, "
           "CH2CO, ...), ML-oracle labels: 12 systems x 2 adsorbates x 3 placements; the "
           "few-shot source of the paper's 0D setting", "nanocluster", 72, 2033, 2, 3,
           ml_adsorbates=ML_POOL, default_oracle="sevennet",
           preset_config=PresetConfig(metals=CLUSTER_METALS, min_cluster_atoms=19,
                                      max_cluster_atoms=39,
                                      groups=("mono", "bi"))),
    Recipe("fewshot-0d-ml", "few-shot target of the paper's 0D setting: CH2CO on trimetallic "
           "nanoclusters (equal thirds, 19-39 atoms) of the bench-0d-ml metals, ML-oracle "
           "labels: 2 systems x 1 adsorbate x 6 placements", "nanocluster", 12, 2034, 1, 6,
           ml_adsorbates=("CH2CO",), default_oracle="sevennet",
           preset_config=PresetConfig(metals=CLUSTER_METALS, min_cluster_atoms=19,
                                      max_cluster_atoms=39,
                                      groups=("tri",))),
    Recipe("bench-2d-ml", "2D sheets (MoS2, WS2, graphene, h-BN; pristine/doped/vacancy) "
           "with adsorbates other than OH, ML-oracle labels: 12 systems x 2 adsorbates x 5 "
           "placements; the few-shot source of the paper's 2D setting (IS2RE)", "2d", 120,
           2035, 2, 5, ml_adsorbates=("H", "O", "N", "CO", "NO", "CH3", "NH2", "CHO", "OCH3"),
           default_oracle="sevennet"),
    Recipe("fewshot-2d-ml", "few-shot target of the paper's 2D setting (IS2RE): OH, which no "
           "bench-2d-ml system has, on 2D sheets, ML-oracle labels: 4 systems x 1 adsorbate "
           "x 10 placements", "2d", 40, 2036, 1, 10, ml_adsorbates=("OH",),
           default_oracle="sevennet"),
    Recipe("bench-2d", "2D materials (MoS2, WS2, graphene, h-BN; pristine/doped/vacancy): 24 "
           "systems x 2 adsorbates x 2 placements (ML oracles)", "2d", 96, 2027, 2, 2,
           default_oracle="sevennet"),
    Recipe("bench-oxide", "oxides (rutile TiO2/RuO2/IrO2 (110), SrTiO3 (001)): 16 systems x 2 "
           "adsorbates x 2 placements (ML oracles)", "oxide", 64, 2028, 2, 2,
           default_oracle="sevennet"),
)}


def get_recipe(name: str) -> Recipe:
    """The recipe called ``name``; :class:`ConfigError` naming the known ones otherwise."""
    try:
        return RECIPES[name]
    except KeyError:
        raise ConfigError(f"unknown recipe {name!r}; choose {', '.join(RECIPES)}") from None
