"""Presets: the kinds of systems the generator makes, and how one is drawn at random.

A preset is a list of *families* (e.g. ``fcc-L12 Pt3Ni``, ``rutile RuO2``, ``MoS2``), each with
the substrate elements it needs. Families whose elements the oracle lacks are left out (and
named); a preset with no family left is an error that names the missing elements. A drawn
system is a :class:`SystemSpec`: JSON-able, so the manifest and each trajectory record it and
:func:`build_system` rebuilds the identical structure from it.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

import numpy as np
from ase import Atoms
from ase.data import atomic_numbers

from metalegnet.data.generate import builders
from metalegnet.errors import ConfigError

#: fcc metals: the EMT metals first, then ones only the ML oracles cover.
FCC_METALS = ("Al", "Ni", "Cu", "Pd", "Ag", "Pt", "Au", "Rh", "Ir")
BCC_METALS = ("Fe", "Mo", "W", "Cr")
HCP_METALS = ("Ru", "Co", "Os", "Re")
#: Random-alloy compositions: fraction of the second metal B in A_(1-x)B_x.
RANDOM_FRACTIONS = (0.25, 0.5, 0.75)
#: Fraction of each guest metal in a trimetallic nanocluster A_(1/3)B_(1/3)C_(1/3).
TRIMETALLIC_FRACTION = 1.0 / 3.0

#: System kind of each preset, as written into ``info['system_kind']``.
PRESET_KINDS = {"nanocluster": "0d", "alloy-surface": "3d", "2d": "2d", "oxide": "oxide"}


@dataclass(frozen=True)
class Family:
    """A group of systems of one composition type.

    Attributes:
        name: e.g. ``fcc-L12 Pt3Ni``.
        group: the sampling group (a group is drawn first, then a family in it).
        elements: substrate elements the family needs.
        params: builder keyword arguments shared by the family.
    """

    name: str
    group: str
    elements: frozenset[str]
    params: dict = field(default_factory=dict)


@dataclass(frozen=True)
class SystemSpec:
    """One system, enough to rebuild it exactly.

    Attributes:
        system_id: unique within a generation (``<preset>-s<seed>-<index>``).
        preset, kind: the preset and its system kind (``0d``, ``3d``, ``2d``, ``oxide``).
        surface: human-readable description, e.g. ``Pt3Ni L1_2 fcc(111)``.
        builder: ``cluster``, ``metal_slab``, ``2d`` or ``oxide``.
        params: the builder's keyword arguments (JSON-able).
    """

    system_id: str
    preset: str
    kind: str
    surface: str
    builder: str
    params: dict

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class PresetConfig:
    """Options of the presets.

    Attributes:
        metals: restrict the metals of ``nanocluster``/``alloy-surface`` (None: all).
        max_cluster_atoms: largest nanocluster drawn (13-147).
        min_cluster_atoms: smallest nanocluster drawn (13-147; the 13-atom clusters
            reconstruct under polyatomic adsorbates).
        groups: restrict the sampling groups (e.g. ``("fcc-pure", "fcc-L12")``; None: all).
            The nanocluster group ``tri`` (trimetallic, equal thirds) exists only when named
            here, so plans drawn without it are unchanged.
    """

    metals: tuple[str, ...] | None = None
    max_cluster_atoms: int = 147
    min_cluster_atoms: int = 13
    groups: tuple[str, ...] | None = None


def _metals(pool: Iterable[str], cfg: PresetConfig) -> list[str]:
    return [m for m in pool if cfg.metals is None or m in cfg.metals]


def families(preset: str, cfg: PresetConfig | None = None) -> list[Family]:
    """All families of ``preset`` (before any oracle filtering)."""
    cfg = cfg or PresetConfig()
    out: list[Family] = []
    if preset == "nanocluster":
        fcc = _metals(FCC_METALS, cfg)
        out += [Family(f"cluster {m}", "mono", frozenset([m]), {"host": m}) for m in fcc]
        out += [Family(f"cluster {a}-{b}", "bi", frozenset([a, b]), {"host": a, "guest": b})
                for a, b in itertools.permutations(fcc, 2)]
        if cfg.groups is not None and "tri" in cfg.groups:  # opt-in: keeps older plans
            out += [Family(f"cluster {a}-{b}-{c}", "tri", frozenset([a, b, c]),
                           {"host": a, "guest": b, "guest2": c})
                    for a, b, c in itertools.combinations(fcc, 3)]
    elif preset == "alloy-surface":
        for lattice, pool in (("fcc", FCC_METALS), ("bcc", BCC_METALS), ("hcp", HCP_METALS)):
            ms = _metals(pool, cfg)
            out += [Family(f"{lattice}-pure {m}", f"{lattice}-pure", frozenset([m]),
                           {"lattice": lattice, "host": m, "order": "pure"}) for m in ms]
            pairs = list(itertools.permutations(ms, 2))
            orders = ("L12", "L10", "random") if lattice == "fcc" else ("random",)
            for order, (a, b) in itertools.product(orders, pairs):
                if order == "L10" and a > b:  # AB = BA: keep one ordering
                    continue
                label = {"L12": f"{a}3{b}", "L10": f"{a}{b}", "random": f"{a}-{b}"}[order]
                out.append(Family(f"{lattice}-{order} {label}", f"{lattice}-{order}",
                                  frozenset([a, b]), {"lattice": lattice, "host": a,
                                                      "guest": b, "order": order}))
    elif preset == "2d":
        for material, dopant, els in (("MoS2", "Co", "MoSCo"), ("WS2", "Ni", "WSNi"),
                                      ("graphene", "N", "CN"), ("h-BN", "C", "BNC")):
            elements = frozenset(_split_symbols(els))
            out.append(Family(material, "2d", elements, {"material": material,
                                                         "dopant": dopant}))
    elif preset == "oxide":
        for formula in ("TiO2", "RuO2", "IrO2", "SrTiO3"):
            out.append(Family(formula, "oxide", frozenset(_split_symbols(formula)),
                              {"formula": formula}))
    else:
        raise ConfigError(f"unknown preset {preset!r}; choose {', '.join(PRESET_KINDS)}")
    if cfg.groups is not None:
        out = [f for f in out if f.group in cfg.groups]
    return out


def _split_symbols(text: str) -> list[str]:
    """``'MoSCo'`` -> ``['Mo', 'S', 'Co']`` (digits ignored)."""
    out: list[str] = []
    for ch in text:
        if ch.isupper():
            out.append(ch)
        elif ch.islower():
            out[-1] += ch
    return out


def usable_families(preset: str, substrate_elements: frozenset[str],
                    cfg: PresetConfig | None = None) -> tuple[list[Family], list[str]]:
    """The families whose elements are all in ``substrate_elements``, and the elements (by
    atomic number) that the left-out families needed but the oracle lacks."""
    fams = families(preset, cfg)
    if not fams:
        raise ConfigError(f"preset {preset!r}: no family matches the chosen metals/groups")
    usable = [f for f in fams if f.elements <= substrate_elements]
    missing = set().union(*(f.elements for f in fams)) - substrate_elements
    return usable, sorted(missing, key=lambda s: atomic_numbers[s])


def sample_system(preset: str, fams: list[Family], rng: np.random.Generator, system_id: str,
                  cfg: PresetConfig | None = None) -> SystemSpec:
    """Draw one system of ``preset`` from the (usable) families ``fams`` with ``rng``."""
    cfg = cfg or PresetConfig()
    groups = sorted({f.group for f in fams})
    group = groups[rng.integers(len(groups))]
    members = [f for f in fams if f.group == group]
    fam = members[rng.integers(len(members))]
    p = dict(fam.params)
    seed = int(rng.integers(2**31 - 1))
    kind = PRESET_KINDS[preset]
    if preset == "nanocluster":
        shapes = [s for s, (_, _, n) in builders.CLUSTER_SHAPES.items()
                  if cfg.min_cluster_atoms <= n <= cfg.max_cluster_atoms]
        if not shapes:
            raise ConfigError(f"no nanocluster shape has {cfg.min_cluster_atoms}-"
                              f"{cfg.max_cluster_atoms} atoms")
        shape = shapes[rng.integers(len(shapes))]
        p.update(shape=shape, seed=seed)
        if "guest2" in p:  # trimetallic: equal thirds
            p["x_guest"] = p["x_guest2"] = TRIMETALLIC_FRACTION
            surface = f"{p['host']}{p['guest']}{p['guest2']} {shape}"
        elif "guest" in p:
            p["x_guest"] = float(RANDOM_FRACTIONS[rng.integers(len(RANDOM_FRACTIONS))])
            surface = (f"{p['host']}{1 - p['x_guest']:.2f}{p['guest']}{p['x_guest']:.2f} "
                       f"{shape}")
        else:
            surface = f"{p['host']} {shape}"
        return SystemSpec(system_id, preset, kind, surface, "cluster", p)
    if preset == "alloy-surface":
        facets = {"fcc": ("111", "100", "211"), "bcc": ("110", "100"),
                  "hcp": ("0001", "10-10")}[p["lattice"]]
        p["facet"] = facets[rng.integers(len(facets))]
        p["seed"] = seed
        if p["order"] == "random":
            p["x_guest"] = float(RANDOM_FRACTIONS[rng.integers(len(RANDOM_FRACTIONS))])
        name = fam.name.split(" ", 1)[1]
        order = {"pure": "", "L12": " L1_2", "L10": " L1_0",
                 "random": f" random x={p.get('x_guest', 0):.2f}"}[p["order"]]
        surface = f"{name}{order} {p['lattice']}({p['facet']})"
        return SystemSpec(system_id, preset, kind, surface, "metal_slab", p)
    if preset == "2d":
        variants = ("pristine", "dopant", "vacancy")
        p["variant"] = variants[rng.integers(len(variants))]
        extra = {"pristine": "", "dopant": f" {p['dopant']}-doped", "vacancy": " vacancy"}
        surface = f"{p['material']}{extra[p['variant']]}"
        return SystemSpec(system_id, preset, kind, surface, "2d", p)
    label = "(001)" if p["formula"] == "SrTiO3" else "rutile(110)"
    return SystemSpec(system_id, preset, kind, f"{p['formula']} {label}", "oxide", p)


def build_system(spec: SystemSpec) -> Atoms:
    """Build the clean system (tags 0/1, FixAtoms on tag 0) described by ``spec``."""
    p = dict(spec.params)
    if spec.builder == "cluster":
        return builders.build_cluster(p["shape"], p["host"], p.get("guest"),
                                      p.get("x_guest", 0.0), p["seed"], p.get("guest2"),
                                      p.get("x_guest2", 0.0))
    if spec.builder == "metal_slab":
        return builders.build_metal_slab(p["lattice"], p["facet"], p["host"], p.get("guest"),
                                         p["order"], p.get("x_guest", 0.0), p["seed"])
    if spec.builder == "2d":
        return builders.build_2d(p["material"], p["variant"], p.get("dopant"))
    if spec.builder == "oxide":
        return builders.build_oxide(p["formula"])
    raise ConfigError(f"unknown system builder {spec.builder!r}")


def spec_from_dict(data: dict) -> SystemSpec:
    """Inverse of :meth:`SystemSpec.to_dict`."""
    return SystemSpec(**data)
