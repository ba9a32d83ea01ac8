"""A universal interatomic potential used zero-shot: the reference column many users would
try instead of training (SevenNet-0 single points, no fitting to the row's data).

* Force rows (``oc20-mini:s2f``): F = SevenNet-0 forces on each test frame, scored like the
  trained models (MAE per Cartesian component of the free atoms, eV/Å); forces need no
  energy reference.
* Adsorption energies where the row's data ship their references (``gamenet-fg``):
  E_ads = E(adslab) - E(slab) - E(gas), every term a SevenNet-0 single point on the DFT
  geometry of the adslab, of the same metal's clean slab and of the same-label gas molecule
  (``gamenet-fg-references``; matched by label, never by formula). MAE in eV.

The test split is the one the trained models of the same seed are scored on (the same
:func:`metalegnet.train.data.prepare_data`). Energies are cached per structure, so seeds
that share test structures compute them once. When ``sevenn`` is not installed the column
is left out with a note.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

COLUMN = "sevennet-0"
LABEL = "SevenNet-0 zero-shot"
#: row key -> what the zero-shot column scores there
ROWS = {"oc20-mini:s2f": "forces", "gamenet-fg:s2e": "gamenet_eads",
        "gamenet-fg:s2e:random": "gamenet_eads"}


def available() -> str | None:
    """``None`` when SevenNet-0 can run here, else why not (one line)."""
    if importlib.util.find_spec("sevenn") is None:
        return ("SevenNet-0 zero-shot column left out: sevenn is not installed "
                "(pip install 'metalegnet[oracle]')")
    return None


class ZeroShot:
    """SevenNet-0 single points with a per-structure cache (eV, eV/Å)."""

    def __init__(self, device: str = "cpu") -> None:
        from metalegnet.data.generate.oracles import load_oracle

        self.calc = load_oracle("sevennet", device).calculator
        self._cache: dict[tuple, tuple[float, np.ndarray]] = {}

    def single_point(self, atoms) -> tuple[float, np.ndarray]:
        key = (str(atoms.info.get("sid")), atoms.info.get("fid"), len(atoms),
               round(float(np.abs(atoms.positions).sum()), 6))
        if key not in self._cache:
            a = atoms.copy()
            a.calc = self.calc
            self._cache[key] = (float(a.get_potential_energy()), np.array(a.get_forces()))
        return self._cache[key]


def _gamenet_parts(sid: str) -> tuple[str, str]:
    """(slab sid, gas sid) of a gamenet-fg adslab ``gamenet_fg/<family>/<metal>-<label>-<site>``."""
    _, family, name = sid.split("/", 2)
    metal, rest = name.split("-", 1)
    label = rest.rsplit("-", 1)[0]
    return f"gamenet_fg/metal_surfaces/{metal}-0000", f"gamenet_fg/gas_{family}/{label}"


def score(kind: str, test: Sequence, model: ZeroShot, force_atoms: str = "free",
          references: dict[str, Any] | None = None) -> float:
    """The zero-shot MAE on the ``test`` samples (``Sample``: atoms + labels)."""
    from metalegnet.train.data import fixed_mask

    if kind == "forces":
        errors = []
        for s in test:
            _, f = model.single_point(s.atoms)
            err = np.abs(f - np.asarray(s.labels["forces"]))
            if force_atoms == "free":
                err = err[~fixed_mask(s.atoms)]
            errors.append(err.reshape(-1))
        return float(np.mean(np.concatenate(errors)))
    if kind == "gamenet_eads":
        refs = references or {}
        errors = []
        for s in test:
            slab_sid, gas_sid = _gamenet_parts(str(s.atoms.info["sid"]))
            e_ads = (model.single_point(s.atoms)[0] - model.single_point(refs[slab_sid])[0]
                     - model.single_point(refs[gas_sid])[0])
            errors.append(abs(e_ads - float(s.labels["e_ads"])))
        return float(np.mean(errors))
    raise ValueError(f"unknown zero-shot kind {kind!r}")


def zero_shot_column(row_key: str, configs: Sequence[dict[str, Any]], model: ZeroShot,
                     structures_of: Callable[[str], list]) -> list[float]:
    """The zero-shot MAE for each run configuration (one per seed) of row ``row_key``."""
    from metalegnet.data.registry import load
    from metalegnet.train.config import config_from_dict
    from metalegnet.train.data import prepare_data

    kind = ROWS[row_key]
    refs = None
    if kind == "gamenet_eads":
        refs = {str(a.info["sid"]): a for a in load("gamenet-fg-references")}
    out = []
    for cfg_dict in configs:
        cfg = config_from_dict(cfg_dict)
        data = prepare_data(cfg, structures_of(cfg.data))
        out.append(score(kind, data.part("test"), model, cfg.force_atoms, refs))
    return out
