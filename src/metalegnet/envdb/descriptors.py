"""Descriptors of one adsorption environment (for the database, deduplication and families).

* composition: the adsorbate's formula and the environment's catalyst formula;
* coordination numbers: substrate neighbours of each environment catalyst atom in the full
  structure (bond: distance < 1.1 x the sum of covalent radii, periodic images counted);
* site: type (top / bridge / hollow-3 / hollow-4, from the binding geometry) and name (fcc,
  hcp, ...), the site atoms' elements;
* distances (Å): binding atom to each site atom (sorted), binding-atom height above the site
  centroid, the closest adsorbate-catalyst distance, the environment's lateral radius.

:func:`descriptor_vector` turns them into numbers for clustering: site-type one-hot (top,
bridge, hollow-3, hollow-4, other), number of site atoms, mean site coordination, height,
mean binding distance, and the environment's catalyst element fractions over ``elements``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from ase import Atoms
from ase.neighborlist import natural_cutoffs, neighbor_list

from metalegnet.surface.environment import LocalEnvironment, formula

SITE_TYPES = ("top", "bridge", "hollow-3", "hollow-4")
COORDINATION_MULT = 1.1


def coordination_numbers(atoms: Atoms, mult: float = COORDINATION_MULT) -> np.ndarray:
    """Substrate (tag != 2) neighbours of every atom."""
    i, j = neighbor_list("ij", atoms, natural_cutoffs(atoms, mult=mult))
    sub = atoms.get_tags() != 2
    keep = sub[j]
    return np.bincount(i[keep], minlength=len(atoms))


def describe(adslab: Atoms, env: LocalEnvironment, env_atoms: np.ndarray) -> dict:
    """Descriptors of ``env``, cut from ``adslab`` (``env_atoms``: the structure index of each
    environment atom, in the environment's order)."""
    cn = coordination_numbers(adslab)[env_atoms]
    surf = env.surface_indices
    site = list(env.site)
    b = env.positions[env.binding]
    site_d = np.sort(np.linalg.norm(env.positions[site] - b, axis=1)) if site else np.zeros(0)
    ads_pos = env.positions[env.adsorbate_indices]
    close = (np.linalg.norm(ads_pos[:, None] - env.positions[surf][None], axis=-1).min()
             if len(surf) else np.nan)
    return {
        "adsorbate_formula": env.adsorbate_formula,
        "env_composition": formula(env.symbols[i] for i in surf),
        "site_type": env.site_type, "site_label": env.site_label,
        "site_composition": env.site_composition, "n_site": len(site),
        "site_cn": [int(cn[i]) for i in site], "coordination": cn.astype(int).tolist(),
        "binding_distances": site_d.round(4).tolist(),
        "height": float(b[2]), "min_distance": float(close),
        "radius": float(np.linalg.norm(env.positions[surf, :2], axis=1).max(initial=0.0)),
        "n_env": len(env.symbols),
    }


def descriptor_vector(desc: dict, env_symbols: Sequence[str], is_adsorbate: np.ndarray,
                      elements: Sequence[str]) -> np.ndarray:
    """Numbers of :func:`describe`'s output (see the module docstring)."""
    one_hot = [float(desc["site_type"] == t) for t in SITE_TYPES]
    one_hot.append(float(desc["site_type"] not in SITE_TYPES))
    cat = [s for s, a in zip(env_symbols, is_adsorbate) if not a]
    frac = [cat.count(e) / max(len(cat), 1) for e in elements]
    bd = desc["binding_distances"]
    return np.array(one_hot + [desc["n_site"], float(np.mean(desc["site_cn"] or [0])),
                               desc["height"], float(np.mean(bd)) if bd else 0.0] + frac)
