"""Stability of the learned environment under equivalent inference settings (paper §3.5/§3.6).

For each structure and each transformation T that should not change the chemistry, the
environment of T(G) is mapped back to G's atom indices and compared with G's environment by
the IoU of their catalyst (non-adsorbate) atoms (two empty sets: IoU 1):

* ``rotation``: a random proper rotation of positions *and* cell (the cell frame), ``draws``
  draws;
* ``translation``: a random Cartesian shift (periodic atoms wrapped back into the cell);
* ``permutation``: a random reordering of the atoms;
* ``seeds``: the same structure under independently trained models (mean pairwise IoU over
  all model pairs).

Reported per setting: the mean IoU over structures (and draws). An IoU of 1 means the
environment is exactly invariant; the model's voxel frame and float precision set how close a
trained model comes (see README "Symmetry, measured").
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

import numpy as np
import torch
from ase import Atoms
from scipy.spatial.transform import Rotation

from metalegnet.explain.environment import AdsorptionEnvironment, explain_structures
from metalegnet.explain.references import iou

SETTINGS = ("rotation", "translation", "permutation")


def rotate(atoms: Atoms, rng: np.random.Generator) -> tuple[Atoms, np.ndarray]:
    """Rotated copy (positions and cell) and the identity index map."""
    r = Rotation.random(random_state=int(rng.integers(2**31))).as_matrix()
    out = atoms.copy()
    out.calc = None
    out.positions = atoms.positions @ r.T
    if atoms.cell.rank > 0:
        out.set_cell(atoms.cell.array @ r.T, scale_atoms=False)
    return out, np.arange(len(atoms))


def translate(atoms: Atoms, rng: np.random.Generator) -> tuple[Atoms, np.ndarray]:
    """Shifted copy (by up to 5 Å per axis, wrapped along periodic axes)."""
    out = atoms.copy()
    out.calc = None
    out.positions = atoms.positions + rng.uniform(-5.0, 5.0, size=3)
    if out.pbc.any():
        out.wrap()
    return out, np.arange(len(atoms))


def permute(atoms: Atoms, rng: np.random.Generator) -> tuple[Atoms, np.ndarray]:
    """Permuted copy and ``perm`` with ``out[k] = atoms[perm[k]]``."""
    perm = rng.permutation(len(atoms))
    out = atoms[perm]
    out.calc = None
    return out, perm


TRANSFORMS = {"rotation": rotate, "translation": translate, "permutation": permute}


def catalyst_env(env: AdsorptionEnvironment, index_map: np.ndarray | None = None) -> np.ndarray:
    """The environment's catalyst atoms in the original structure's numbering."""
    idx = env.surface_indices
    return idx if index_map is None else np.sort(index_map[idx])


def transform_stability(model: torch.nn.Module, structures: Sequence[Atoms],
                        environments: Sequence[AdsorptionEnvironment], draws: int = 2,
                        seed: int = 0, batch_size: int = 16,
                        settings: Sequence[str] = SETTINGS, scope: str = "all"
                        ) -> dict[str, np.ndarray]:
    """``{setting: [S] mean IoU per structure}`` for rotations, translations, permutations
    (``scope``: as for :func:`~metalegnet.explain.environment.otsu_environment`, the one the
    ``environments`` were made with)."""
    rng = np.random.default_rng(seed)
    out: dict[str, np.ndarray] = {}
    for name in settings:
        fn = TRANSFORMS[name]
        copies, maps, owner = [], [], []
        for i, atoms in enumerate(structures):
            for _ in range(draws):
                t, m = fn(atoms, rng)
                copies.append(t)
                maps.append(m)
                owner.append(i)
        explained = explain_structures(model, copies, batch_size=batch_size, unseen="ignore",
                                       scope=scope)
        scores = np.zeros(len(structures))
        for i, m, ex in zip(owner, maps, explained):
            scores[i] += iou(catalyst_env(environments[i]), catalyst_env(ex.environment, m))
        out[name] = scores / max(draws, 1)
    return out


def seed_stability(models: Sequence[torch.nn.Module], structures: Sequence[Atoms],
                   batch_size: int = 16, scope: str = "all") -> np.ndarray:
    """``[S]`` mean pairwise IoU of the environments of independently trained models."""
    if len(models) < 2:
        raise ValueError("seed stability needs at least two independently trained models")
    envs = [[ex.environment for ex in explain_structures(
        m, structures, batch_size=batch_size, unseen="ignore", scope=scope)] for m in models]
    scores = np.zeros(len(structures))
    pairs = list(combinations(range(len(models)), 2))
    for a, b in pairs:
        for i in range(len(structures)):
            scores[i] += iou(catalyst_env(envs[a][i]), catalyst_env(envs[b][i]))
    return scores / len(pairs)
