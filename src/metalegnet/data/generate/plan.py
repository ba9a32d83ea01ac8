"""The deterministic plan of a generation: which systems, adsorbates and placements.

System ``i`` is drawn from its own random stream ``SeedSequence([seed, i])`` and placement
``k`` of it from ``SeedSequence([seed, i, k])``, so a plan depends only on the settings and the
seed, never on the number of workers or the order in which jobs finish, and the first systems
of a larger ``n`` are the same as those of a smaller one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from metalegnet.data.generate.presets import Family, PresetConfig, SystemSpec, sample_system
from metalegnet.errors import ConfigError
from metalegnet.surface.adsorbates import OC20_COMMON, get_adsorbate


@dataclass(frozen=True)
class PlanConfig:
    """What to generate.

    Attributes:
        preset: ``nanocluster``, ``alloy-surface``, ``2d`` or ``oxide``.
        n: number of trajectories (adsorbate placements, each relaxed).
        seed: the random seed of the whole plan.
        adsorbates: the adsorbate pool each system draws from.
        adsorbates_per_system: distinct adsorbates per system (catalyst-adsorbate tasks).
        placements_per_adsorbate: random placements of each adsorbate on a system.
        prefix: start of every ``system_id``/``sid`` (default ``<preset>-s<seed>``).
        preset_config: options of the preset.
    """

    preset: str
    n: int
    seed: int = 0
    adsorbates: tuple[str, ...] = OC20_COMMON
    adsorbates_per_system: int = 2
    placements_per_adsorbate: int = 3
    prefix: str | None = None
    preset_config: PresetConfig = field(default_factory=PresetConfig)

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ConfigError(f"the number of trajectories must be >= 1, got {self.n}")
        if self.adsorbates_per_system < 1 or self.placements_per_adsorbate < 1:
            raise ConfigError("adsorbates_per_system and placements_per_adsorbate must be >= 1")
        if self.adsorbates_per_system > len(self.adsorbates):
            raise ConfigError(f"adsorbates_per_system={self.adsorbates_per_system} exceeds the "
                              f"{len(self.adsorbates)} adsorbates of the pool")
        for name in self.adsorbates:
            get_adsorbate(name)

    @property
    def id_prefix(self) -> str:
        return self.prefix or f"{self.preset}-s{self.seed}"

    @property
    def per_system(self) -> int:
        return self.adsorbates_per_system * self.placements_per_adsorbate


@dataclass(frozen=True)
class TrajectoryJob:
    """One adsorbate placement to relax.

    Attributes:
        sid: the trajectory id (``<system_id>-<adsorbate>-<k>``).
        adsorbate: adsorbate name.
        placement_index: index of the placement within its system.
        seed: entropy of the placement's random stream.
    """

    sid: str
    adsorbate: str
    placement_index: int
    seed: tuple[int, ...]


@dataclass(frozen=True)
class SystemJob:
    """A system and all the placements on it (one unit of work for a worker)."""

    index: int
    spec: SystemSpec
    trajectories: tuple[TrajectoryJob, ...]


def make_plan(cfg: PlanConfig, families: list[Family]) -> list[SystemJob]:
    """Draw the systems and placements of ``cfg`` from the usable ``families``."""
    if not families:
        raise ConfigError(f"preset {cfg.preset!r} has no usable family")
    n_systems = math.ceil(cfg.n / cfg.per_system)
    jobs: list[SystemJob] = []
    remaining = cfg.n
    for i in range(n_systems):
        rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, i]))
        system_id = f"{cfg.id_prefix}-{i:05d}"
        spec = sample_system(cfg.preset, families, rng, system_id, cfg.preset_config)
        pool = list(cfg.adsorbates)
        chosen = [pool[k] for k in rng.choice(len(pool), cfg.adsorbates_per_system,
                                              replace=False)]
        trajs = []
        k = 0
        for name in chosen:
            for p in range(cfg.placements_per_adsorbate):
                if remaining == 0:
                    break
                trajs.append(TrajectoryJob(f"{system_id}-{name}-{p}", name, k,
                                           (cfg.seed, i, k)))
                k += 1
                remaining -= 1
        jobs.append(SystemJob(i, spec, tuple(trajs)))
    return jobs
