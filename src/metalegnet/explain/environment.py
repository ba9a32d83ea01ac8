"""Learned adsorption environments: Otsu segmentation of the importances (paper eq. 32).

For one structure with importances w_i = |c_i| / max_j |c_j| (eq. 31, in [0, 1]) the learned
environment is

    env = { i : w_i > t_Otsu({w_j}) }  ∪  { i : tag_i = 2 }                        (eq. 32)

where t_Otsu maximises the between-class variance of the 1-D histogram of {w_j}
(scikit-image ``threshold_otsu``, given the histogram of the *distinct* weights, so no
binning puts a foreground atom in the threshold's bin: t is then the largest background
weight and ``w_i > t`` is exact). *Rule (ours)*: the adsorbate atoms (OC20 tag 2) always
belong to the environment, so masking it and comparing it with geometric references concern
only its catalyst part.

*Option* ``scope="catalyst"``: the threshold is computed on the catalyst (non-adsorbate)
atoms' weights only, the adsorbate still added by the rule. A model trained on adsorption
energies can put nearly all of E on the adsorbate (its gate gamma_i -> 1 there, ~0 on the
slab); eq. 32 over all atoms then returns the adsorbate alone, and only this option
segments the catalyst. ``scope="all"`` (eq. 32 as written) is the default.

Degenerate cases (``AdsorptionEnvironment.degenerate`` is True, ``threshold`` is NaN):
fewer than two atoms, or all weights equal within 1e-9 (nothing stands out, Otsu is
undefined). Then no atom is selected by the threshold and the environment is the adsorbate
alone; a structure without adsorbate atoms then takes every atom whose weight equals the
maximum (an all-equal structure: all atoms).

:func:`explain_structures` runs the model through :mod:`metalegnet.inference` and returns,
per structure, the energy (eV), the contributions c_i, the importances, the latent
features s_i, the gate, the voxel of each atom at every coarse level and the environment.
This module's names (``AdsorptionEnvironment``, ``otsu_environment``, ``Explanation``,
``explain_structures``) are a stable API used by the environment database.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from ase import Atoms

#: weights closer together than this are "all equal" (no Otsu threshold)
EQUAL_WEIGHTS_TOL = 1e-9
ADSORBATE_TAG = 2


@dataclass
class AdsorptionEnvironment:
    """The learned adsorption environment of one structure (N atoms, K in the environment).

    Attributes:
        indices: ``[K]`` sorted atom indices (into the structure) of the environment.
        weights: ``[N]`` importance w_i of every atom of the structure (eq. 31).
        threshold: Otsu threshold t on {w_i}; NaN when ``degenerate``.
        adsorbate: ``[K]`` bool, environment atom is an adsorbate atom (tag 2).
        surface: ``[K]`` bool, environment atom belongs to the catalyst (tag 0 or 1, i.e.
            not adsorbate; ``tags[indices]`` tells surface (1) from subsurface (0)).
        selected: ``[N]`` bool, w_i > t (the Otsu foreground, before adding the adsorbate).
        tags: ``[N]`` OC20 tags of the structure.
        voxel_index: per coarse level, ``[N]`` voxel (coarse node) of each atom, numbered
            0.. within this structure; empty for the vanilla model or without a model.
        degenerate: True when the threshold was undefined (see the module docstring).
    """

    indices: np.ndarray
    weights: np.ndarray
    threshold: float
    adsorbate: np.ndarray
    surface: np.ndarray
    selected: np.ndarray
    tags: np.ndarray
    voxel_index: tuple[np.ndarray, ...] = ()
    degenerate: bool = False

    @property
    def size(self) -> int:
        """K, the number of environment atoms (adsorbate included)."""
        return int(self.indices.size)

    @property
    def num_atoms(self) -> int:
        return int(self.weights.size)

    @property
    def mask(self) -> np.ndarray:
        """``[N]`` bool, atom i is in the environment."""
        m = np.zeros(self.num_atoms, dtype=bool)
        m[self.indices] = True
        return m

    @property
    def surface_indices(self) -> np.ndarray:
        """Atom indices of the environment's catalyst (non-adsorbate) atoms."""
        return self.indices[self.surface]

    @property
    def adsorbate_indices(self) -> np.ndarray:
        return self.indices[self.adsorbate]

    def environment_voxels(self, level: int = 0) -> np.ndarray:
        """Sorted voxel ids (at coarse ``level``) that hold at least one environment atom."""
        if level >= len(self.voxel_index):
            return np.zeros(0, dtype=np.int64)
        return np.unique(self.voxel_index[level][self.indices])


def otsu_threshold(weights: np.ndarray) -> float:
    """Otsu's threshold of the 1-D weights (scikit-image), NaN when undefined."""
    from skimage.filters import threshold_otsu

    w = np.asarray(weights, dtype=np.float64)
    if w.size < 2 or not np.all(np.isfinite(w)) or np.ptp(w) <= EQUAL_WEIGHTS_TOL:
        return float("nan")
    values, counts = np.unique(w, return_counts=True)
    return float(threshold_otsu(hist=(counts, values)))


SCOPES = ("all", "catalyst")


def otsu_environment(weights, tags, voxel_index: Sequence[np.ndarray] = (),
                     scope: str = "all") -> AdsorptionEnvironment:
    """Eq. 32 on one structure's weights ``[N]`` and tags ``[N]`` (see module docstring);
    ``scope``: atoms whose weights set the threshold, ``"all"`` or ``"catalyst"``."""
    if scope not in SCOPES:
        raise ValueError(f"scope={scope!r}; choose one of {SCOPES}")
    w = np.asarray(weights, dtype=np.float64).reshape(-1)
    t = np.asarray(tags, dtype=np.int64).reshape(-1)
    if w.size != t.size:
        raise ValueError(f"{w.size} weights but {t.size} tags")
    if w.size == 0:
        raise ValueError("an adsorption environment needs at least one atom")
    if not np.all(np.isfinite(w)):
        raise ValueError("importances contain NaN or inf")
    is_ads = t == ADSORBATE_TAG
    pool = ~is_ads if scope == "catalyst" and (~is_ads).any() else np.ones(w.size, bool)
    thr = otsu_threshold(w[pool])
    degenerate = not np.isfinite(thr)
    if degenerate:
        selected = np.zeros(w.size, dtype=bool)
    else:
        selected = (w > thr) & pool
        if not selected.any():  # cannot happen with exact histograms; guard anyway
            selected = pool & (w >= w[pool].max())
    member = selected | is_ads
    if not member.any():  # degenerate and no adsorbate: the top atoms (all, if all equal)
        member = w >= w.max() - EQUAL_WEIGHTS_TOL
    idx = np.flatnonzero(member)
    return AdsorptionEnvironment(
        indices=idx, weights=w, threshold=thr, adsorbate=is_ads[idx], surface=~is_ads[idx],
        selected=selected, tags=t,
        voxel_index=tuple(np.asarray(v, dtype=np.int64).reshape(-1) for v in voxel_index),
        degenerate=degenerate)


@dataclass
class Explanation:
    """One structure explained (N atoms, F latent features).

    Attributes:
        energy: predicted E_G (eV; the model's target: total or adsorption energy).
        contributions: ``[N]`` c_i (eq. 19, model units).
        importance: ``[N]`` w_i (eq. 31).
        latent: ``[N, F]`` final atom-level scalar features s_i.
        environment: the learned :class:`AdsorptionEnvironment`.
        gate: ``[N]`` gamma_i or None. atom_energies: ``[N]`` eV, summing to ``energy``.
    """

    energy: float
    contributions: np.ndarray
    importance: np.ndarray
    latent: np.ndarray
    environment: AdsorptionEnvironment
    gate: np.ndarray | None = None
    atom_energies: np.ndarray | None = None
    extra: dict = field(default_factory=dict)

    @property
    def voxel_index(self) -> tuple[np.ndarray, ...]:
        return self.environment.voxel_index


def _local_voxels(index: torch.Tensor, lo: int, hi: int) -> np.ndarray:
    """Voxel ids of atoms lo..hi renumbered 0.. in order of first batch-wide id."""
    v = index[lo:hi].detach().cpu().numpy().astype(np.int64)
    return np.unique(v, return_inverse=True)[1].reshape(-1).astype(np.int64)


def explain_structures(model: torch.nn.Module, structures: Sequence[Atoms],
                       batch_size: int = 16, source: str | None = None,
                       unseen: str = "warn", scope: str = "all") -> list[Explanation]:
    """Predict (no forces) and explain every structure, in batches, through the one
    inference path (checked graphs from :func:`metalegnet.inference.build_graphs`, then
    :func:`metalegnet.inference.forward`). Model must return a ``LegNetOutput``;
    ``scope`` goes to :func:`otsu_environment`."""
    from metalegnet import inference
    from metalegnet.data.graph import collate
    from metalegnet.explain.attribution import importance

    structures = list(structures)
    inference.check_structures(model, structures, source, unseen)
    was_training = model.training
    model.eval()
    device = inference.model_device(model)
    out_list: list[Explanation] = []
    try:
        for k in range(0, len(structures), batch_size):
            chunk = structures[k:k + batch_size]
            graph = collate(inference.build_graphs(model, chunk, source, "ignore")).to(device)
            out = inference.forward(model, graph, compute_forces=False)
            c = out.contributions.detach()
            w = inference.as_np(importance(c, graph.batch))
            c_np, energy = inference.as_np(c), inference.as_np(out.energy)
            latent = out.latent.detach().cpu().double().numpy()
            gate = None if out.gate is None else inference.as_np(out.gate)
            per_atom = inference.as_np(out.atom_energies)
            tags = graph.tags.cpu().numpy()
            bounds = np.cumsum([0] + graph.natoms.tolist())
            for g, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:])):
                voxels = tuple(_local_voxels(v, lo, hi) for v in out.voxel_index)
                env = otsu_environment(w[lo:hi], tags[lo:hi], voxels, scope)
                out_list.append(Explanation(
                    energy=float(energy[g]), contributions=c_np[lo:hi], importance=w[lo:hi],
                    latent=latent[lo:hi], environment=env,
                    gate=None if gate is None else gate[lo:hi],
                    atom_energies=per_atom[lo:hi]))
    finally:
        model.train(was_training)
    return out_list
