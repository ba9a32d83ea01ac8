"""A short description of a set of structures: sizes, elements, label ranges."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np
from ase import Atoms
from ase.data import chemical_symbols

from metalegnet.data.labels import get_labels


def _stats(values: Sequence[float]) -> dict | None:
    if len(values) == 0:
        return None
    arr = np.asarray(values, dtype=np.float64)
    return {"count": int(arr.size), "min": float(arr.min()), "max": float(arr.max()),
            "mean": float(arr.mean())}


def _pbc_kind(atoms: Atoms) -> str:
    return "".join("T" if p else "F" for p in atoms.pbc)


def summarize(structures: Iterable[Atoms], energy_key: str | None = None) -> dict:
    """Counts and label ranges of ``structures``.

    Returns a JSON-able dict: ``structures``, ``files``, ``sids`` (number of distinct
    trajectories/systems), ``frames_per_sid`` and ``atoms`` (count/min/max/mean),
    ``elements`` (symbol -> number of atoms, by atomic number), ``pbc`` (e.g. ``"TTT"`` ->
    count), ``tags`` (tag -> number of atoms) and ``labels``: ``energy`` (total, eV),
    ``e_ads`` (adsorption, eV), ``force_norm`` (per-atom \\|F\\|, eV/Å) stats, or ``None``.
    """
    n, sids, files, natoms = 0, Counter(), set(), []
    zs: Counter = Counter()
    pbc: Counter = Counter()
    tags: Counter = Counter()
    energy, e_ads, fnorm = [], [], []
    for atoms in structures:
        n += 1
        sids[str(atoms.info.get("sid"))] += 1
        files.add(atoms.info.get("source"))
        natoms.append(len(atoms))
        zs.update(int(z) for z in atoms.numbers)
        tags.update(int(t) for t in atoms.get_tags())
        pbc[_pbc_kind(atoms)] += 1
        labels = get_labels(atoms, energy_key)
        if "energy" in labels:
            energy.append(labels["energy"])
        if "e_ads" in labels:
            e_ads.append(labels["e_ads"])
        if "forces" in labels:
            fnorm.extend(np.linalg.norm(labels["forces"], axis=1).tolist())
    return {
        "structures": n,
        "files": len(files - {None}),
        "sids": len(sids),
        "frames_per_sid": _stats(list(sids.values())),
        "atoms": _stats(natoms),
        "elements": {chemical_symbols[z]: zs[z] for z in sorted(zs)},
        "pbc": dict(sorted(pbc.items())),
        "tags": {str(t): tags[t] for t in sorted(tags)},
        "labels": {"energy": _stats(energy), "e_ads": _stats(e_ads),
                   "force_norm": _stats(fnorm)},
    }


_LABEL_NAMES = {
    "energy": "total energy (eV)",
    "e_ads": "adsorption energy (eV)",
    "force_norm": "|force| per atom (eV/Å)",
}


def _fmt_stats(s: dict | None, digits: int = 4) -> str:
    if s is None:
        return "none"
    return (f"min {s['min']:.{digits}f}  max {s['max']:.{digits}f}  mean {s['mean']:.{digits}f}"
            f"  (n={s['count']})")


def format_summary(d: dict) -> str:
    """Human-readable lines for a :func:`summarize` dict."""
    fps, at = d["frames_per_sid"], d["atoms"]
    lines = [
        f"structures      {d['structures']} in {d['files']} file(s)",
        f"trajectories    {d['sids']} sid(s); frames per sid "
        + (f"{fps['min']:.0f}-{fps['max']:.0f} (mean {fps['mean']:.1f})" if fps else "none"),
        "atoms           " + (f"{at['min']:.0f}-{at['max']:.0f} per structure "
                              f"(mean {at['mean']:.1f})" if at else "none"),
        "elements        " + (" ".join(f"{k}:{v}" for k, v in d["elements"].items()) or "none"),
        "pbc             " + (" ".join(f"{k}:{v}" for k, v in d["pbc"].items()) or "none"),
        "tags            " + (" ".join(f"{k}:{v}" for k, v in d["tags"].items()) or "none"),
    ]
    for key, name in _LABEL_NAMES.items():
        lines.append(f"{name:<26}{_fmt_stats(d['labels'][key])}")
    return "\n".join(lines)
