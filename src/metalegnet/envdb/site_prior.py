"""The site prior: how far above a surface's best site each site label sits, per adsorbate,
learned from the structures an environment database is built from.

Groups are structures of one adsorbate on one slab at different sites (:func:`group_key`:
the same substrate element sequence and cell, the same adsorbate atoms, the same source
file). In a group ``g`` with at least two site labels, let ``E_g(s)`` be the lowest energy of
its structures whose binding atom sits on a site of label ``s`` (top, bridge, fcc, hcp,
hollow-4; :func:`~metalegnet.surface.sites.classify_site`; with ``-step`` appended when a
site atom is a step-edge atom, :func:`~metalegnet.surface.sites.step_edge_atoms`, so a
(211) step bridge and a terrace bridge are two labels) and ``E_g = min_s E_g(s)``. The
offset of label ``s`` for adsorbate ``A`` (:func:`adsorbate_name`) is the shrunk mean of
the gaps over the ``n`` groups of ``A`` that hold ``s``::

    offset(A, s) = sum_g (E_g(s) - E_g) / (n + 1)        (eV, >= 0)

(the +1 is one pseudo-observation at 0: a label seen once is trusted half). Within a group
total and adsorption energies differ by the same constant, so either works. For an adsorbate
with no groups, the offsets pooled over adsorbates with the same binding element are used;
a ``-step`` label missing from the table takes its flat label's offset, and any other label
missing from it the table's mean offset (a site never compared in the data is taken as an
average site, not as the best one); an adsorbate whose binding element has no table either
has no offset (0 in SEAM's score).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from ase import Atoms
from ase.data import chemical_symbols
from ase.formula import Formula

from metalegnet.surface.environment import formula
from metalegnet.surface.sites import STEP_SUFFIX

#: Site labels the prior knows, each also with ``-step`` (others, e.g. ``5-fold`` or
#: ``none``, are left out).
LABELS = ("top", "bridge", "fcc", "hcp", "hollow-4")


def adsorbate_name(atoms: Atoms) -> str:
    """The formula of one adsorbate (``info['adsorbate']`` when it is a formula, so a cell
    holding four O atoms is ``O``), else of every adsorbate atom (tag 2)."""
    name = atoms.info.get("adsorbate")
    if isinstance(name, str) and name:
        try:
            count = Formula(name).count()
        except ValueError:
            count = None
        if count and all(el in chemical_symbols for el in count):
            return formula([el for el, n in count.items() for _ in range(n)])
    return formula([s for s, t in zip(atoms.get_chemical_symbols(), atoms.get_tags())
                    if t == 2])


def group_key(atoms: Atoms) -> str:
    """The (slab, adsorbate) group of a tagged structure: source file, the substrate's element
    sequence (so two random alloys of one formula differ), cell lengths (0.1 Å) and the
    formula of every adsorbate atom (so coverages differ)."""
    tags = atoms.get_tags()
    sub = "".join(s for s, t in zip(atoms.get_chemical_symbols(), tags) if t != 2)
    ads = [s for s, t in zip(atoms.get_chemical_symbols(), tags) if t == 2]
    cell = ",".join(f"{x:.1f}" for x in atoms.cell.lengths())
    digest = hashlib.sha1(sub.encode()).hexdigest()[:12]
    return f"{atoms.info.get('source', '')}|{digest}|{cell}|{formula(ads)}"


@dataclass(frozen=True)
class SitePrior:
    """Offsets (eV) per adsorbate formula and per binding element, each a ``{label: eV}``
    map, with the number of groups behind each."""

    by_adsorbate: dict[str, dict[str, float]] = field(default_factory=dict)
    by_element: dict[str, dict[str, float]] = field(default_factory=dict)
    groups: dict[str, dict[str, int]] = field(default_factory=dict)

    def offset(self, adsorbate_formula: str, binding_element: str, label: str
               ) -> float | None:
        """The offset of ``label`` for the adsorbate (eV; see the module docstring for the
        fallbacks), None when neither the adsorbate nor its binding element has a table."""
        table = self.by_adsorbate.get(adsorbate_formula)
        if table is None:
            table = self.by_element.get(binding_element)
        if table is None:
            return None
        if label not in table and label.endswith(STEP_SUFFIX):
            label = label[: -len(STEP_SUFFIX)]
        if label in table:
            return table[label]
        return float(np.mean(list(table.values()))) if table else None

    def to_json(self) -> dict:
        return {"by_adsorbate": self.by_adsorbate, "by_element": self.by_element,
                "groups": self.groups}

    @classmethod
    def from_json(cls, data: dict) -> SitePrior:
        return cls({k: dict(v) for k, v in data.get("by_adsorbate", {}).items()},
                   {k: dict(v) for k, v in data.get("by_element", {}).items()},
                   {k: dict(v) for k, v in data.get("groups", {}).items()})


def _shrunk(gaps: dict[str, list[float]]) -> tuple[dict[str, float], dict[str, int]]:
    return ({s: round(float(np.sum(g)) / (len(g) + 1), 5) for s, g in gaps.items()},
            {s: len(g) for s, g in gaps.items()})


def fit_site_prior(structures: Sequence[Atoms]) -> SitePrior:
    """The prior of the module docstring from tagged structures (adsorbate tag 2) with an
    energy (``e_ads`` or total, :func:`~metalegnet.envdb.extract.source_energy`)."""
    from metalegnet.envdb.extract import source_energy
    from metalegnet.surface.detect import find_surface_atoms
    from metalegnet.surface.environment import binding_atom
    from metalegnet.surface.sites import (
        classify_site,
        step_edge_atoms,
        substrate_neighbours,
        with_step,
    )

    best: dict[str, dict[str, float]] = defaultdict(dict)
    info: dict[str, tuple[str, str]] = {}
    for atoms in structures:
        tags = atoms.get_tags()
        if not (tags == 2).any() or (tags == 2).all():
            continue
        energy, _ = source_energy(atoms)
        if energy is None:
            continue
        b = binding_atom(atoms)
        label = classify_site(atoms, b)
        if label not in LABELS:
            continue
        steps = step_edge_atoms(atoms, find_surface_atoms(atoms))
        label = with_step(label, substrate_neighbours(atoms, b), steps)
        key = group_key(atoms)
        info[key] = (adsorbate_name(atoms), atoms[b].symbol)
        old = best[key].get(label)
        best[key][label] = energy if old is None else min(old, energy)
    per_ads: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    per_el: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for key, sites in best.items():
        if len(sites) < 2:
            continue
        low = min(sites.values())
        ads, el = info[key]
        for label, e in sites.items():
            per_ads[ads][label].append(e - low)
            per_el[el][label].append(e - low)
    by_ads, groups = {}, {}
    for ads, gaps in per_ads.items():
        by_ads[ads], groups[ads] = _shrunk(gaps)
    by_el = {el: _shrunk(gaps)[0] for el, gaps in per_el.items()}
    return SitePrior(by_ads, by_el, groups)
