"""The OC20 adsorbate set, each with its binding atom(s).

Geometries follow the OC20 adsorbate database convention: the (first) binding atom sits at the
origin and the rest of the molecule points up (+z), so "binding atom down" is the identity
orientation. Bond lengths are typical gas-phase/adsorbed values (Å); the relaxation with the
oracle refines them. Bidentate adsorbates (``CH2CO``) have both binding atoms at z = 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import Atoms

from metalegnet.errors import ConfigError

# Bond lengths (Å).
_CH, _NH, _OH, _CO_SINGLE, _CC = 1.09, 1.02, 0.97, 1.43, 1.52
_TETRA = np.degrees(np.arccos(-1.0 / 3.0))  # 109.47°, the sp3 bond angle


@dataclass(frozen=True)
class AdsorbateDef:
    """One adsorbate: symbols, positions (Å, binding atom at the origin, molecule along +z)
    and the indices of the atoms expected to bind to the surface."""

    name: str
    symbols: tuple[str, ...]
    positions: tuple[tuple[float, float, float], ...]
    binding_indices: tuple[int, ...]

    def atoms(self) -> Atoms:
        """A fresh :class:`ase.Atoms` of the isolated adsorbate (no cell, no pbc)."""
        return Atoms(symbols=list(self.symbols), positions=np.array(self.positions, float))

    @property
    def elements(self) -> frozenset[str]:
        return frozenset(self.symbols)


def _up_cone(n: int, tilt_deg: float, phase_deg: float = 0.0) -> np.ndarray:
    """``n`` unit vectors at polar angle ``tilt_deg`` from +z, equally spaced in azimuth."""
    t = np.radians(tilt_deg)
    phis = np.radians(phase_deg) + 2.0 * np.pi * np.arange(n) / n
    return np.stack([np.sin(t) * np.cos(phis), np.sin(t) * np.sin(phis),
                     np.full(n, np.cos(t))], axis=1)


def _sp3_substituents(center: np.ndarray, bond_dir: np.ndarray, n: int = 3) -> np.ndarray:
    """Unit vectors of the ``n`` remaining sp3 bonds of an atom whose first bond points along
    ``bond_dir`` (tetrahedral 109.47° angles)."""
    b = bond_dir / np.linalg.norm(bond_dir)
    ref = np.array([1.0, 0.0, 0.0]) if abs(b[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    e1 = np.cross(b, ref)
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(b, e1)
    t = np.radians(_TETRA)
    phis = 2.0 * np.pi * np.arange(n) / n
    return np.stack([np.cos(t) * b + np.sin(t) * (np.cos(p) * e1 + np.sin(p) * e2)
                     for p in phis])


def _make(name: str, atoms: list[tuple[str, np.ndarray]], binding: tuple[int, ...]
          ) -> AdsorbateDef:
    symbols = tuple(s for s, _ in atoms)
    positions = tuple(tuple(float(x) for x in p) for _, p in atoms)
    return AdsorbateDef(name, symbols, positions, binding)


def _hydride(center: str, n_h: int, bond: float) -> list[tuple[str, np.ndarray]]:
    """XH_n with X at the origin (binding) and the H atoms pointing up/outwards."""
    out: list[tuple[str, np.ndarray]] = [(center, np.zeros(3))]
    if n_h == 1:
        out.append(("H", np.array([0.0, 0.0, bond])))
    elif n_h >= 2:
        # The missing bonds point down to the surface: H on an up-cone at 180° - 109.47°.
        for v in _up_cone(n_h, 180.0 - _TETRA if n_h == 3 else 55.0):
            out.append(("H", bond * v))
    return out


def _build_all() -> dict[str, AdsorbateDef]:
    z = np.array([0.0, 0.0, 1.0])
    ads: dict[str, AdsorbateDef] = {}
    for el in ("H", "O", "N", "C"):
        ads[el] = _make(el, [(el, np.zeros(3))], (0,))
    ads["OH"] = _make("OH", _hydride("O", 1, _OH), (0,))
    ads["CO"] = _make("CO", [("C", np.zeros(3)), ("O", 1.15 * z)], (0,))
    ads["NO"] = _make("NO", [("N", np.zeros(3)), ("O", 1.17 * z)], (0,))
    ads["NH"] = _make("NH", _hydride("N", 1, _NH), (0,))
    ads["NH2"] = _make("NH2", _hydride("N", 2, _NH), (0,))
    ads["NH3"] = _make("NH3", _hydride("N", 3, _NH), (0,))
    ads["CH"] = _make("CH", _hydride("C", 1, _CH), (0,))
    ads["CH2"] = _make("CH2", _hydride("C", 2, _CH), (0,))
    ads["CH3"] = _make("CH3", _hydride("C", 3, _CH), (0,))
    ads["H2O"] = _make("H2O", [("O", np.zeros(3)),
                               ("H", np.array([0.76, 0.0, 0.59])),
                               ("H", np.array([-0.76, 0.0, 0.59]))], (0,))
    # OCH3 (methoxy): O binds, C above it, three H on the methyl.
    c = _CO_SINGLE * z
    och3 = [("O", np.zeros(3)), ("C", c)]
    och3 += [("H", c + _CH * v) for v in _sp3_substituents(c, -z)]
    ads["OCH3"] = _make("OCH3", och3, (0,))
    # CHO (formyl): C binds; O and H on the sp2 carbon, 120° apart, tilted up.
    ads["CHO"] = _make("CHO", [("C", np.zeros(3)),
                               ("O", 1.21 * np.array([np.sin(np.radians(60)), 0.0, 0.5])),
                               ("H", _CH * np.array([-np.sin(np.radians(60)), 0.0, 0.5]))],
                       (0,))
    # COH (hydroxymethylidyne): C binds, O above, H on O at ~109°.
    o = 1.33 * z
    ads["COH"] = _make("COH", [("C", np.zeros(3)), ("O", o),
                               ("H", o + _OH * np.array([np.sin(np.radians(71)), 0.0,
                                                         np.cos(np.radians(71))]))], (0,))
    ads["CH2CO"] = _make("CH2CO", _ketene(), (0, 1))
    ads["CHOHCH2OH"] = _make("CHOHCH2OH", _chohch2oh(), (0,))
    return ads


def _ketene() -> list[tuple[str, np.ndarray]]:
    """CH2CO lying on the surface through both carbons (bidentate *CH2*CO)."""
    c1, c2 = np.zeros(3), np.array([1.45, 0.0, 0.0])
    o = c2 + 1.20 * np.array([np.cos(np.radians(60)), 0.0, np.sin(np.radians(60))])
    d1, d2 = np.array([-0.5, 0.6, 0.62]), np.array([-0.5, -0.6, 0.62])
    h1 = c1 + _CH * d1 / np.linalg.norm(d1)
    h2 = c1 + _CH * d2 / np.linalg.norm(d2)
    return [("C", c1), ("C", c2), ("O", o), ("H", h1), ("H", h2)]


def _chohch2oh() -> list[tuple[str, np.ndarray]]:
    """CHOHCH2OH: the CH(OH) carbon binds (its free sp3 bond points down, -z); the CH2OH arm
    and both hydroxyl H atoms take the torsion that keeps every atom highest above z = 0."""
    c1 = np.zeros(3)
    d_h, d_o, d_c = _sp3_substituents(c1, -np.array([0.0, 0.0, 1.0]))
    h1, o1, c2 = c1 + _CH * d_h, c1 + _CO_SINGLE * d_o, c1 + _CC * d_c
    ho1 = max((o1 + _OH * v for v in _sp3_substituents(o1, c1 - o1, 3)), key=lambda p: p[2])
    best: list[np.ndarray] = []
    for phase in np.linspace(0.0, 2.0 * np.pi, 36, endpoint=False):
        d2 = _rotate_about(_sp3_substituents(c2, c1 - c2), (c2 - c1) / _CC, phase)
        h2, h3, o2 = c2 + _CH * d2[0], c2 + _CH * d2[1], c2 + _CO_SINGLE * d2[2]
        ho2 = max((o2 + _OH * v for v in _sp3_substituents(o2, c2 - o2, 3)),
                  key=lambda p: p[2])
        cand = [h2, h3, o2, ho2]
        if not best or min(p[2] for p in cand) > min(p[2] for p in best):
            best = cand
    h2, h3, o2, ho2 = best
    return [("C", c1), ("H", h1), ("O", o1), ("H", ho1), ("C", c2), ("H", h2), ("H", h3),
            ("O", o2), ("H", ho2)]


def _rotate_about(vectors: np.ndarray, axis: np.ndarray, angle: float) -> np.ndarray:
    """Rotate row vectors by ``angle`` (rad) about the unit ``axis`` (Rodrigues)."""
    k = axis / np.linalg.norm(axis)
    cos, sin = np.cos(angle), np.sin(angle)
    return (vectors * cos + np.cross(k, vectors) * sin
            + np.outer(vectors @ k, k) * (1.0 - cos))


#: Every adsorbate by name (OC20 set plus CH2CO and CHOHCH2OH of the few-shot study).
ADSORBATES: dict[str, AdsorbateDef] = _build_all()

#: The common OC20 set in the order the issue lists it.
OC20_COMMON: tuple[str, ...] = ("H", "O", "N", "C", "OH", "CO", "NO", "NH", "NH2", "NH3", "CH",
                                "CH2", "CH3", "OCH3", "CHO", "COH", "H2O")
#: The two larger adsorbates the paper's few-shot study uses.
FEWSHOT_EXTRA: tuple[str, ...] = ("CH2CO", "CHOHCH2OH")


def get_adsorbate(name: str) -> AdsorbateDef:
    """The adsorbate called ``name``; :class:`ConfigError` naming the known ones otherwise."""
    try:
        return ADSORBATES[name]
    except KeyError:
        raise ConfigError(f"unknown adsorbate {name!r}; known: {', '.join(ADSORBATES)}") from None


def resolve_adsorbate(name: str) -> AdsorbateDef:
    """:func:`get_adsorbate`, or a one-atom adsorbate for any element symbol (``Cl``, ``S``,
    ...); :class:`ConfigError` otherwise."""
    from ase.data import chemical_symbols

    if name in ADSORBATES:
        return ADSORBATES[name]
    if name in chemical_symbols[1:]:
        return AdsorbateDef(name, (name,), ((0.0, 0.0, 0.0),), (0,))
    raise ConfigError(f"unknown adsorbate {name!r}; known: {', '.join(ADSORBATES)} or any "
                      "element symbol")
