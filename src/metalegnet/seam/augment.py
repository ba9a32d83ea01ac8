"""Placed-pose augmentation for the model SEAM ranks with.

SEAM scores *placed* poses: a template's adsorbate pose put on a clean slab that was relaxed
without it (or, in the real-data checks, with the adsorbate at another site), not the
relaxed geometry a DFT data set holds. A model trained only on relaxed structures ranks the
DFT geometries of a wwl-simple group well (63.8 % exact top-1) but the placed poses at the
same sites much worse, because the inputs differ from what it was trained on by a few
tenths of an Ångström. The augmentation teaches the IS2RE map "pose near a relaxed site ->
that site's relaxed energy": each training structure gets ``copies`` variants, labelled with
its own (relaxed) energy, in which

* the substrate is, with probability ``slab_swap``, the substrate of another structure of the
  same slab model (same element sequence and cell, every atom within ``max_slab_shift`` Å of
  its counterpart under the in-plane minimum image: the same slab relaxed around an adsorbate
  elsewhere), aligned atom by atom to this one;
* the adsorbate is moved rigidly by a lateral offset drawn from N(0, ``lateral_sigma``²) per
  in-plane axis and a vertical one from N(0, ``vertical_sigma``²) (Å), well inside a site's
  basin (neighbouring sites are at least ~1.3 Å apart on close-packed metals).

A variant whose adsorbate comes closer than ``min_contact`` x the sum of covalent radii to any
substrate atom (periodic images included) is redrawn, at most ``tries`` times, then dropped.
The variants keep the structure's ``info`` (its group keys), so a split by group keeps a
structure and its variants on the same side.

Measured (``metalegnet bench seam --augment-copies 2``, three seeds each): on wwl-simple SEAM's
top-1 within 0.1 eV goes from 54.2 to 60.5 % (exact 34.6 to 39.5 %); on xu-kitchin it gets
worse (80.4 to 77.7 %). See ``benchmarks/results/seam_wwl_simple/README.md``, run 10. On
the SevenNet-0 oracle benchmark (``benchmarks/results/seam_oracle/``, run 4) the hard
subset's success@1 goes from 1 to 3 of 4 systems with seeds 0 and 1, but is 1 of 4 with
seed 2; a model trained as long without the variants (seed 0) stays at 1 of 4.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from ase import Atoms

from metalegnet.config import check_fields
from metalegnet.errors import ConfigError
from metalegnet.seam.place import too_close
from metalegnet.surface.detect import in_plane_mic


@dataclass(frozen=True)
class PoseAugmentConfig:
    """Variants per structure, the slab-swap probability and the rigid adsorbate offsets
    (Å); see the module docstring."""

    copies: int = 0
    slab_swap: float = 0.5
    lateral_sigma: float = 0.15
    vertical_sigma: float = 0.1
    max_slab_shift: float = 1.0
    min_contact: float = 0.7
    tries: int = 5
    seed: int = 0

    def __post_init__(self) -> None:
        check_fields(self)
        if self.copies < 0:
            raise ConfigError(f"copies must be >= 0, got {self.copies}")
        if not 0.0 <= self.slab_swap <= 1.0:
            raise ConfigError(f"slab_swap must be in [0, 1], got {self.slab_swap}")
        if self.lateral_sigma < 0 or self.vertical_sigma < 0:
            raise ConfigError("lateral_sigma and vertical_sigma must be >= 0")


def _slab_key(atoms: Atoms, sub: np.ndarray) -> tuple:
    return (atoms.numbers[sub].tobytes(), tuple(np.round(atoms.cell.array.ravel(), 2)))


def _aligned_substrate(a: Atoms, b: Atoms, sub_a: np.ndarray, sub_b: np.ndarray,
                       max_shift: float) -> np.ndarray | None:
    """``b``'s substrate positions moved atom by atom to the in-plane image nearest ``a``'s
    (None when an atom is further than ``max_shift`` Å: not the same slab model)."""
    d = in_plane_mic(a.cell.array, b.positions[sub_b] - a.positions[sub_a])
    if np.linalg.norm(d, axis=1).max() > max_shift:
        return None
    return a.positions[sub_a] + d


def augment_poses(structures: Sequence[Atoms], config: PoseAugmentConfig) -> list[Atoms]:
    """``structures`` (tagged: adsorbate 2) followed by their variants (module docstring).
    Structures without adsorbate or substrate atoms get no variants."""
    out = list(structures)
    if config.copies == 0:
        return out
    rng = np.random.default_rng(config.seed)
    parts = []
    by_slab: dict[tuple, list[int]] = defaultdict(list)
    for i, a in enumerate(structures):
        tags = a.get_tags()
        ads, sub = np.flatnonzero(tags == 2), np.flatnonzero(tags != 2)
        parts.append((ads, sub))
        if len(ads) and len(sub):
            by_slab[_slab_key(a, sub)].append(i)
    for i, a in enumerate(structures):
        ads, sub = parts[i]
        if not (len(ads) and len(sub)):
            continue
        partners = [j for j in by_slab[_slab_key(a, sub)] if j != i]
        for _ in range(config.copies):
            for _ in range(config.tries):
                v = a.copy()
                v.calc = None
                if partners and rng.random() < config.slab_swap:
                    j = partners[rng.integers(len(partners))]
                    pos = _aligned_substrate(a, structures[j], sub, parts[j][1],
                                             config.max_slab_shift)
                    if pos is not None:
                        v.positions[sub] = pos
                v.positions[ads] += [*rng.normal(0.0, config.lateral_sigma, 2),
                                     rng.normal(0.0, config.vertical_sigma)]
                if too_close(v[sub], v.positions[ads], v.numbers[ads],
                             config.min_contact) is None:
                    v.info = dict(a.info)
                    v.info["augmented"] = True
                    out.append(v)
                    break
    return out
