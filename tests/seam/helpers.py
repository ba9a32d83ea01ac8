"""Known poses for the SEAM tests: a random Cu-Pt (111) slab with CO in an fcc hollow."""

from __future__ import annotations

import numpy as np
import torch
from ase import Atoms
from ase.build import add_adsorbate, fcc111

from metalegnet import LegNet, LegNetConfig
from metalegnet.surface.environment import LocalEnvironment, cut_environment


def alloy_slab(seed: int = 1, size=(3, 3, 4), n_pt: int = 12) -> Atoms:
    rng = np.random.default_rng(seed)
    slab = fcc111("Cu", size, vacuum=8.0)
    sym = np.array(slab.get_chemical_symbols())
    sym[rng.choice(len(slab), n_pt, replace=False)] = "Pt"
    slab.set_chemical_symbols(sym)
    z = slab.positions[:, 2]
    slab.set_tags(np.where(z > z.max() - 0.5, 1, 0))
    return slab


def co_adslab(slab: Atoms, site: str = "fcc", tilt: float = 0.3) -> Atoms:
    """CO with C at ``site`` and O tilted ``tilt`` Å sideways (a pose, not just a site)."""
    ads = slab.copy()
    add_adsorbate(ads, "C", 1.4, site)
    add_adsorbate(ads, "O", 2.5, site, offset=None)
    ads.positions[-1, 0] += tilt
    tags = ads.get_tags()
    tags[-2:] = 2
    ads.set_tags(tags)
    ads.info.pop("adsorbate_info", None)  # ase.build's site dict: not extxyz-writable
    return ads


def template_of(adslab: Atoms, radius: float = 4.0, **fields) -> LocalEnvironment:
    """Adsorbate plus every substrate atom within ``radius`` of the binding atom."""
    n_sub = int((adslab.get_tags() != 2).sum())
    d = adslab.get_distances(n_sub, range(n_sub), mic=True)
    return cut_environment(adslab, np.flatnonzero(d < radius), **fields)


def rotated_copy(atoms: Atoms, angle: float = 37.0, shift=(0.7, -1.3, 0.4)) -> Atoms:
    out = atoms.copy()
    out.rotate(angle, "z", rotate_cell=True)
    out.translate(shift)
    out.wrap()
    return out


def tiny_model(seed: int = 0) -> LegNet:
    torch.manual_seed(seed)
    model = LegNet(LegNetConfig(variant="vanilla", cutoff=4.5, num_features=8, num_blocks=1))
    model.normalization.set(scale=0.5, shift_atom=-1.0, known_elements=[1, 6, 7, 8, 29, 78])
    return model.eval()
