"""Structure builders for the presets, on top of ``ase.build`` and ``ase.cluster``.

Every builder returns an :class:`ase.Atoms` in OC20 conventions: periodic cell (pbc T T T) with
vacuum along z (slabs, 2D sheets) or on all sides (clusters), tags 0 (held, subsurface/core) and
1 (free slab/surface atom), and a ``FixAtoms`` constraint on the tag-0 atoms. Distances in Å.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.build import (
    bcc100,
    bcc110,
    fcc100,
    fcc111,
    fcc211,
    graphene,
    hcp0001,
    hcp10m10,
    mx2,
    surface,
)
from ase.cluster import Decahedron, Icosahedron, Octahedron
from ase.constraints import FixAtoms
from ase.data import atomic_numbers, reference_states
from ase.neighborlist import neighbor_list

from metalegnet.errors import ConfigError

#: Vacuum on each side of a slab or cluster (Å): periodic images are >= 16 Å apart, far beyond
#: the 5-6 Å cutoffs of the oracles.
VACUUM = 8.0
#: Fraction of the slab height (from the bottom) whose atoms are held fixed (tag 0).
FIXED_FRACTION = 0.5


def lattice_constant(symbol: str, structure: str) -> float:
    """ASE's reference lattice constant ``a`` (Å) of an element in ``structure`` (fcc/bcc/hcp)."""
    state = reference_states[atomic_numbers[symbol]]
    if not state or state.get("symmetry") != structure:
        raise ConfigError(f"{symbol} is not a {structure} metal in ase.data.reference_states")
    return float(state["a"])


def hcp_c(symbol: str) -> float:
    """Reference hcp ``c`` (Å) of ``symbol``."""
    state = reference_states[atomic_numbers[symbol]]
    return float(state["c/a"] * state["a"]) if "c/a" in state else float(state["c"])


def finalize(atoms: Atoms, held: np.ndarray) -> Atoms:
    """Tag ``held`` atoms 0 and fix them, tag the rest 1; periodic in all directions."""
    atoms.pbc = True
    tags = np.where(held, 0, 1)
    atoms.set_tags(tags)
    atoms.set_constraint(FixAtoms(indices=np.flatnonzero(held)) if held.any() else [])
    return atoms


def hold_bottom(atoms: Atoms, fraction: float = FIXED_FRACTION) -> np.ndarray:
    """Mask of the atoms in the bottom ``fraction`` of the slab height (0 for a flat sheet)."""
    z = atoms.positions[:, 2]
    height = z.max() - z.min()
    if height < 0.5:
        return np.zeros(len(atoms), bool)
    return z < z.min() + fraction * height + 0.05


def substitute_random(atoms: Atoms, symbol: str, fraction: float,
                      rng: np.random.Generator, among: np.ndarray | None = None) -> Atoms:
    """Replace ``round(fraction * n)`` randomly chosen atoms (of ``among``) by ``symbol``."""
    idx = np.arange(len(atoms)) if among is None else np.flatnonzero(among)
    n = int(round(fraction * len(idx)))
    chosen = rng.choice(idx, size=n, replace=False) if n else np.array([], int)
    symbols = atoms.get_chemical_symbols()
    for i in chosen:
        symbols[int(i)] = symbol
    atoms.set_chemical_symbols(symbols)
    return atoms


# --- 0D nanoclusters ---------------------------------------------------------------------------

#: (shape, parameters) of the ase.cluster shapes with 13-147 atoms, and their atom counts.
CLUSTER_SHAPES: dict[str, tuple[str, tuple[int, ...], int]] = {
    "ico13": ("icosahedron", (2,), 13), "ico55": ("icosahedron", (3,), 55),
    "ico147": ("icosahedron", (4,), 147),
    "dec19": ("decahedron", (2, 3, 0), 19), "dec39": ("decahedron", (3, 2, 0), 39),
    "dec75": ("decahedron", (2, 2, 1), 75), "dec101": ("decahedron", (2, 3, 1), 101),
    "oct13": ("octahedron", (3, 1), 13), "oct38": ("octahedron", (4, 1), 38),
    "oct79": ("octahedron", (5, 1), 79), "oct116": ("octahedron", (6, 2), 116),
}


def build_cluster(shape: str, host: str, guest: str | None = None, x_guest: float = 0.0,
                  seed: int = 0, guest2: str | None = None, x_guest2: float = 0.0) -> Atoms:
    """A mono-, bi- or trimetallic nanocluster: random substitution of a fraction ``x_guest``
    of all atoms by ``guest``, then (trimetallic) of ``x_guest2`` of all atoms, drawn among
    the remaining host atoms, by ``guest2``.

    The lattice constant is the Vegard mean a = (1 - x - x2) a_host + x a_guest + x2 a_guest2
    of the fcc metals. Core atoms (12 neighbours) are held (tag 0), surface atoms are free
    (tag 1).
    """
    kind, params, _ = CLUSTER_SHAPES[shape]
    if guest2 and not guest:
        raise ConfigError("a trimetallic cluster needs guest before guest2")
    a = lattice_constant(host, "fcc")
    if guest:
        a = (1.0 - x_guest - x_guest2) * a + x_guest * lattice_constant(guest, "fcc")
    if guest2:
        a += x_guest2 * lattice_constant(guest2, "fcc")
    if kind == "icosahedron":
        atoms = Icosahedron(host, params[0], latticeconstant=a)
    elif kind == "decahedron":
        atoms = Decahedron(host, *params, latticeconstant=a)
    else:
        atoms = Octahedron(host, *params, latticeconstant=a)
    atoms = Atoms(atoms)  # a plain Atoms (ase.cluster returns a Cluster subclass)
    rng = np.random.default_rng(seed)
    if guest:
        substitute_random(atoms, guest, x_guest, rng)
    if guest2:
        hosts = np.array(atoms.get_chemical_symbols()) == host
        substitute_random(atoms, guest2, x_guest2 * len(atoms) / max(hosts.sum(), 1), rng,
                          among=hosts)
    atoms.center(vacuum=VACUUM)
    d_nn = a / np.sqrt(2.0)
    i = neighbor_list("i", atoms, 1.2 * d_nn)
    coordination = np.bincount(i, minlength=len(atoms))
    return finalize(atoms, coordination >= 12)


# --- 3D metal and alloy slabs ------------------------------------------------------------------

_FCC_FACETS = {"111": fcc111, "100": fcc100, "211": fcc211}
_BCC_FACETS = {"110": bcc110, "100": bcc100}
_HCP_FACETS = {"0001": hcp0001, "10-10": hcp10m10}
#: Miller index and (layers, in-plane repeat) of ase.build.surface for ordered fcc alloys.
_ORDERED = {"111": ((1, 1, 1), 4, (2, 2, 1)), "100": ((1, 0, 0), 2, (2, 2, 1)),
            "211": ((2, 1, 1), 6, (1, 2, 1))}


def _ordered_bulk(a_el: str, b_el: str, order: str, a: float) -> Atoms:
    """Conventional cubic cell of L1_2 A3B or L1_0 AB (c/a = 1)."""
    pos = [(0, 0, 0), (0.5, 0.5, 0), (0.5, 0, 0.5), (0, 0.5, 0.5)]
    symbols = [b_el, a_el, a_el, a_el] if order == "L12" else [a_el, a_el, b_el, b_el]
    return Atoms(symbols, scaled_positions=pos, cell=[a, a, a], pbc=True)


def build_metal_slab(lattice: str, facet: str, host: str, guest: str | None = None,
                     order: str = "pure", x_guest: float = 0.0, seed: int = 0,
                     size: tuple[int, int, int] | None = None) -> Atoms:
    """A pure-metal or binary-alloy slab (4 atomic layers, bottom half held).

    Args:
        lattice: ``fcc``, ``bcc`` or ``hcp``.
        facet: ``111``/``100``/``211`` (fcc), ``110``/``100`` (bcc), ``0001``/``10-10`` (hcp).
        host, guest: the metals (A and B of A3B / AB / A_xB_(1-x)).
        order: ``pure``, ``L12`` (A3B), ``L10`` (AB) or ``random``.
        x_guest: fraction of B in a random alloy.
        seed: the random substitution's seed.
        size: pure and random slabs: the ``ase.build`` size (default (3, 3, 4), (2, 4, 4)
            for hcp 10-10); ordered alloys: the repeat of the ordered surface cell (default
            per facet: (2, 2, 1) on 111 and 100, (1, 2, 1) on 211).
    """
    facets = {"fcc": _FCC_FACETS, "bcc": _BCC_FACETS, "hcp": _HCP_FACETS}[lattice]
    if facet not in facets:
        raise ConfigError(f"unknown {lattice} facet {facet!r}; choose {', '.join(facets)}")
    a = lattice_constant(host, lattice)
    if guest:
        b = lattice_constant(guest, lattice)
        xb = {"L12": 0.25, "L10": 0.5}.get(order, x_guest)
        a = (1.0 - xb) * a + xb * b
    if order in ("L12", "L10"):
        if lattice != "fcc" or not guest:
            raise ConfigError("ordered L1_2/L1_0 alloys need an fcc lattice and two metals")
        miller, layers, repeat = _ORDERED[facet]
        slab = surface(_ordered_bulk(host, guest, order, a), miller, layers, vacuum=VACUUM)
        slab = slab.repeat(size or repeat)
    else:
        size = size or ((2, 4, 4) if facet == "10-10" else (3, 3, 4))
        if lattice == "hcp":
            slab = facets[facet](host, size=size, a=a, c=hcp_c(host), vacuum=VACUUM)
        else:
            slab = facets[facet](host, size=size, a=a, vacuum=VACUUM)
        if order == "random" and guest:
            substitute_random(slab, guest, x_guest, np.random.default_rng(seed))
    slab = Atoms(slab)
    slab.set_constraint()
    return finalize(slab, hold_bottom(slab))


# --- 2D materials ------------------------------------------------------------------------------

_MX2 = {"MoS2": (3.18, 3.19), "WS2": (3.18, 3.14)}  # a, S-S thickness (Å)


def build_2d(material: str, variant: str = "pristine", dopant: str | None = None) -> Atoms:
    """A 2D sheet: MoS2/WS2 (2H, ``ase.build.mx2``), graphene or h-BN (``ase.build.graphene``).

    Args:
        material: ``MoS2``, ``WS2``, ``graphene`` or ``h-BN``.
        variant: ``pristine``, ``dopant`` (one metal/host atom of the top layer replaced by
            ``dopant``) or ``vacancy`` (one top-layer atom removed: S in MX2, C in graphene,
            N in h-BN).
    """
    if material in _MX2:
        a, thick = _MX2[material]
        sheet = mx2(material, kind="2H", a=a, thickness=thick, size=(3, 3, 1), vacuum=VACUUM)
        metal = "Mo" if material == "MoS2" else "W"
        top = sheet.positions[:, 2] > sheet.positions[:, 2].mean() + 0.5
        is_s = np.array(sheet.get_chemical_symbols(), dtype=object) == "S"
        sub_target, vac_target = metal, top & is_s
    elif material in ("graphene", "h-BN"):
        formula, a = ("C2", 2.46) if material == "graphene" else ("BN", 2.50)
        sheet = graphene(formula, a=a, size=(4, 4, 1), vacuum=VACUUM)
        sub_target = "C" if material == "graphene" else "B"
        vac_symbol = "C" if material == "graphene" else "N"
        vac_target = np.array(sheet.get_chemical_symbols(), dtype=object) == vac_symbol
    else:
        raise ConfigError(f"unknown 2D material {material!r}")
    sheet = Atoms(sheet)
    symbols = np.array(sheet.get_chemical_symbols(), dtype=object)
    centre = sheet.cell[0] / 2 + sheet.cell[1] / 2
    d = np.linalg.norm(sheet.positions[:, :2] - centre[:2], axis=1)
    if variant == "dopant":
        if not dopant:
            raise ConfigError("a doped 2D sheet needs a dopant element")
        i = int(np.argmin(np.where(symbols == sub_target, d, np.inf)))
        symbols[i] = dopant
        sheet.set_chemical_symbols(list(symbols))
    elif variant == "vacancy":
        i = int(np.argmin(np.where(vac_target, d, np.inf)))
        del sheet[i]
    elif variant != "pristine":
        raise ConfigError(f"unknown 2D variant {variant!r}")
    # MX2: the bottom chalcogen layer is held; flat sheets have nothing held.
    held = hold_bottom(sheet, 0.25) if material in _MX2 else np.zeros(len(sheet), bool)
    return finalize(sheet, held)


# --- oxides ------------------------------------------------------------------------------------

#: Rutile a, c (Å) and oxygen parameter u (experimental).
_RUTILE = {"TiO2": (4.594, 2.959, 0.305), "RuO2": (4.492, 3.107, 0.306),
           "IrO2": (4.505, 3.159, 0.308)}
_PEROVSKITE = {"SrTiO3": 3.905}


def build_oxide(formula: str) -> Atoms:
    """Rutile (110) of TiO2/RuO2/IrO2 (3 O-M-O trilayers, 1x2) or perovskite SrTiO3 (001)
    (2x2, 4 layers, TiO2-terminated). The bottom half is held."""
    if formula in _RUTILE:
        a, c, u = _RUTILE[formula]
        metal = formula[:2]
        bulk = Atoms([metal, metal] + ["O"] * 4, cell=[a, a, c], pbc=True, scaled_positions=[
            (0, 0, 0), (0.5, 0.5, 0.5), (u, u, 0), (1 - u, 1 - u, 0),
            (0.5 + u, 0.5 - u, 0.5), (0.5 - u, 0.5 + u, 0.5)])
        slab = surface(bulk, (1, 1, 0), 3, vacuum=VACUUM).repeat((1, 2, 1))
    elif formula in _PEROVSKITE:
        a = _PEROVSKITE[formula]
        bulk = Atoms(["Sr", "Ti", "O", "O", "O"], cell=[a, a, a], pbc=True, scaled_positions=[
            (0, 0, 0), (0.5, 0.5, 0.5), (0.5, 0.5, 0), (0.5, 0, 0.5), (0, 0.5, 0.5)])
        slab = surface(bulk, (0, 0, 1), 2, vacuum=VACUUM).repeat((2, 2, 1))
    else:
        raise ConfigError(f"unknown oxide {formula!r}; choose "
                          f"{', '.join([*_RUTILE, *_PEROVSKITE])}")
    slab = Atoms(slab)
    return finalize(slab, hold_bottom(slab))
