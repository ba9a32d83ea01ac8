"""A local adsorption environment in the surface frame: what the environment database stores
and what SEAM matches.

Frame: the z-axis is the outward surface normal, x and y the in-plane cell directions, and
the origin is the centroid of the site atoms (the binding atom's substrate neighbours, see
:func:`~metalegnet.surface.sites.substrate_neighbours`), so a template's site lines up with a
candidate motif's site point before registration. Positions are unwrapped across periodic
boundaries (minimum image from the binding atom). Distances in Å, energies in eV.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from ase import Atoms

from metalegnet.errors import DataError
from metalegnet.surface.sites import classify_site, substrate_neighbours

#: Site names of :func:`classify_site` mapped to the four site types of the database.
SITE_TYPE = {"top": "top", "bridge": "bridge", "fcc": "hollow-3", "hcp": "hollow-3",
             "hollow-4": "hollow-4"}


def site_type_of(label: str) -> str:
    """``top``/``bridge``/``hollow-3``/``hollow-4`` of a site name; ``<n>-fold`` and
    ``none`` pass through."""
    return SITE_TYPE.get(label, label)


@dataclass
class LocalEnvironment:
    """One adsorption environment (adsorbate plus surface atoms) in the surface frame.

    Attributes:
        symbols: element of each environment atom.
        positions: (n, 3) positions in the surface frame (Å).
        is_adsorbate: (n,) True for adsorbate atoms.
        binding: index (into the environment) of the adsorbate's binding atom.
        site: indices (into the environment) of the site atoms.
        site_label: site name of the binding atom (top, bridge, fcc, hcp, hollow-4, ...).
        adsorbate: the adsorbate's name or formula.
        importances: per-atom importance (None when unknown).
        energy: the source's energy (eV; adsorption energy where known) or None.
        tier: quality tier, 1 (best) to 3.
        key: an identifier (database id, source sid, ...).
        meta: anything else (JSON-able).
    """

    symbols: tuple[str, ...]
    positions: np.ndarray
    is_adsorbate: np.ndarray
    binding: int
    site: tuple[int, ...]
    site_label: str
    adsorbate: str
    importances: np.ndarray | None = None
    energy: float | None = None
    tier: int = 1
    key: str = ""
    meta: dict = field(default_factory=dict)

    @property
    def site_type(self) -> str:
        return site_type_of(self.site_label)

    @property
    def site_composition(self) -> str:
        return "-".join(sorted(self.symbols[i] for i in self.site))

    @property
    def adsorbate_formula(self) -> str:
        return formula([s for s, a in zip(self.symbols, self.is_adsorbate) if a])

    @property
    def surface_indices(self) -> np.ndarray:
        return np.flatnonzero(~self.is_adsorbate)

    @property
    def adsorbate_indices(self) -> np.ndarray:
        return np.flatnonzero(self.is_adsorbate)


def formula(symbols) -> str:
    """Hill-like formula, elements sorted alphabetically with counts (``CO``, ``H3C``)."""
    counts = Counter(symbols)
    return "".join(f"{el}{n if n > 1 else ''}" for el, n in sorted(counts.items()))


def binding_atom(adslab: Atoms) -> int:
    """The adsorbate atom bound to the substrate: the one with the closest substrate contact
    relative to the covalent sum (index into ``adslab``)."""
    from ase.data import covalent_radii

    tags = adslab.get_tags()
    ads, sub = np.flatnonzero(tags == 2), np.flatnonzero(tags != 2)
    if not len(ads) or not len(sub):
        raise DataError("need adsorbate (tag 2) and substrate atoms to find the binding atom")
    best, best_ratio = int(ads[0]), np.inf
    for a in ads:
        d = adslab.get_distances(int(a), sub, mic=True)
        ratio = d / (covalent_radii[adslab.numbers[a]] + covalent_radii[adslab.numbers[sub]])
        if ratio.min() < best_ratio:
            best, best_ratio = int(a), float(ratio.min())
    return best


def cut_environment(adslab: Atoms, surface_atoms, importances=None, binding: int | None = None,
                    adsorbate: str | None = None, **meta_fields) -> LocalEnvironment:
    """The environment made of every adsorbate atom (tag 2) plus ``surface_atoms`` (indices
    into ``adslab``; the binding atom's site atoms are always added), in the surface frame.

    ``importances`` (per atom of ``adslab``) are kept for the environment atoms. Extra keyword
    arguments fill :class:`LocalEnvironment` fields (energy, tier, key, meta).
    """
    tags = adslab.get_tags()
    ads = np.flatnonzero(tags == 2)
    b = binding_atom(adslab) if binding is None else int(binding)
    site_atoms = substrate_neighbours(adslab, b)
    surf = np.setdiff1d(np.union1d(np.asarray(surface_atoms, int), site_atoms), ads)
    order = np.concatenate([ads, surf]).astype(int)
    vec = adslab.get_distances(b, order, mic=True, vector=True)
    pos = adslab.positions[b] + vec
    site = [int(np.flatnonzero(order == s)[0]) for s in site_atoms]
    origin = pos[site].mean(axis=0) if site else pos[int(np.flatnonzero(order == b)[0])]
    symbols = np.array(adslab.get_chemical_symbols())[order]
    imp = None if importances is None else np.asarray(importances, float)[order]
    label = classify_site(adslab, b)
    name = adsorbate or formula(symbols[: len(ads)])
    return LocalEnvironment(tuple(symbols.tolist()), pos - origin, np.arange(len(order)) <
                            len(ads), int(np.flatnonzero(order == b)[0]), tuple(site), label,
                            name, imp, **meta_fields)
