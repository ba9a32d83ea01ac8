"""Geometric reference environments and their overlap with the learned one (paper §3.5, Fig. 7).

Distances are to the adsorbate (OC20 tag 2) and respect periodic images:

    d_i = min_{a in adsorbate} min_{n in Z^3 (periodic axes)} |x_i - x_a + n·cell|   (Å)

(ASE's minimum-image ``get_distances``, which searches neighbouring images, so skewed cells
are handled).

* cutoff reference: the catalyst atoms with d_i <= r (r configurable, Å);
* size-matched kNN reference: the K catalyst atoms with the smallest d_i, K = the number of
  catalyst atoms in the learned environment (ties broken by atom index).

*Choice*: the learned environment always holds the adsorbate (see ``environment``), so the
comparison is over the catalyst (non-adsorbate) atoms only; counting the adsorbate in both
sets would inflate every score. With L the learned and R the reference set,

    precision = |L ∩ R| / |L|,  recall = |L ∩ R| / |R|,  IoU = |L ∩ R| / |L ∪ R|

(0/0 is NaN for precision and recall; two empty sets have IoU 1). Structures without
adsorbate atoms have no reference (:func:`adsorbate_distances` raises ``ValueError``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import Atoms
from ase.geometry import get_distances

from metalegnet.explain.environment import ADSORBATE_TAG, AdsorptionEnvironment

#: default radius of the fixed distance-cutoff reference (Å): first metal shell of a bound
#: adsorbate atom (metal-adsorbate bonds ~1.8-2.3 Å) plus margin
DEFAULT_REFERENCE_CUTOFF = 3.0


def adsorbate_distances(atoms: Atoms) -> np.ndarray:
    """``[N]`` d_i (Å): minimum-image distance of every atom to the nearest adsorbate atom
    (0 for adsorbate atoms)."""
    tags = atoms.get_tags()
    ads = np.flatnonzero(tags == ADSORBATE_TAG)
    if ads.size == 0:
        raise ValueError("no adsorbate atoms (tag 2): distances to the adsorbate undefined")
    pbc = atoms.get_pbc()
    periodic = bool(pbc.any())
    _, d = get_distances(atoms.positions, atoms.positions[ads],
                         cell=atoms.cell if periodic else None, pbc=pbc if periodic else None)
    return d.min(axis=1)


def catalyst_indices(atoms: Atoms) -> np.ndarray:
    return np.flatnonzero(atoms.get_tags() != ADSORBATE_TAG)


def cutoff_reference(atoms: Atoms, cutoff: float = DEFAULT_REFERENCE_CUTOFF,
                     distances: np.ndarray | None = None) -> np.ndarray:
    """Sorted indices of catalyst atoms within ``cutoff`` Å of any adsorbate atom."""
    d = adsorbate_distances(atoms) if distances is None else distances
    cat = catalyst_indices(atoms)
    return cat[d[cat] <= cutoff]


def knn_reference(atoms: Atoms, k: int, distances: np.ndarray | None = None) -> np.ndarray:
    """Sorted indices of the ``k`` catalyst atoms nearest the adsorbate (stable ties)."""
    d = adsorbate_distances(atoms) if distances is None else distances
    cat = catalyst_indices(atoms)
    order = cat[np.argsort(d[cat], kind="stable")]
    return np.sort(order[:max(0, int(k))])


def farthest_catalyst(atoms: Atoms, k: int, distances: np.ndarray | None = None) -> np.ndarray:
    """Sorted indices of the ``k`` catalyst atoms farthest from the adsorbate."""
    d = adsorbate_distances(atoms) if distances is None else distances
    cat = catalyst_indices(atoms)
    order = cat[np.argsort(-d[cat], kind="stable")]
    return np.sort(order[:max(0, int(k))])


@dataclass
class Overlap:
    """Set agreement of a learned set L with a reference R (see module docstring)."""

    precision: float
    recall: float
    iou: float
    learned_size: int
    reference_size: int

    def as_dict(self) -> dict:
        return {"precision": self.precision, "recall": self.recall, "iou": self.iou,
                "learned_size": self.learned_size, "reference_size": self.reference_size}


def overlap(learned, reference) -> Overlap:
    """Precision, recall and IoU of two index sets."""
    a, b = set(np.asarray(learned).tolist()), set(np.asarray(reference).tolist())
    inter, union = len(a & b), len(a | b)
    return Overlap(precision=inter / len(a) if a else float("nan"),
                   recall=inter / len(b) if b else float("nan"),
                   iou=inter / union if union else 1.0,
                   learned_size=len(a), reference_size=len(b))


def chance_iou(n: int, k_learned: int, k_reference: int) -> float:
    """IoU a random k_learned-subset of n catalyst atoms has with a fixed k_reference-set, as
    the ratio of expectations: E|L ∩ R| = k_l k_r / n, IoU ~ i / (k_l + k_r - i)."""
    if n <= 0 or k_learned + k_reference == 0:
        return 1.0
    i = k_learned * k_reference / n
    return float(i / (k_learned + k_reference - i))


def iou(a, b) -> float:
    return overlap(a, b).iou


def reference_overlaps(atoms: Atoms, env: AdsorptionEnvironment,
                       cutoff: float = DEFAULT_REFERENCE_CUTOFF) -> dict[str, Overlap]:
    """``{"cutoff": ..., "knn": ...}`` overlaps of the environment's catalyst atoms."""
    d = adsorbate_distances(atoms)
    learned = env.surface_indices
    return {"cutoff": overlap(learned, cutoff_reference(atoms, cutoff, d)),
            "knn": overlap(learned, knn_reference(atoms, learned.size, d))}


def chance_overlaps(atoms: Atoms, overlaps: dict[str, Overlap]) -> dict[str, float]:
    """``{ref: chance IoU}`` of a random learned set of the same size (a baseline for IoU)."""
    n = int(catalyst_indices(atoms).size)
    return {k: chance_iou(n, o.learned_size, o.reference_size) for k, o in overlaps.items()}
