"""One database entry per structure: its learned environment in the surface frame.

From a structure (OC20 tags, guessed where missing: :func:`~metalegnet.surface.detect.
with_oc20_tags`) and its explanation (:func:`metalegnet.explain.explain_structures`):

* environment atoms: the adsorbate plus the Otsu environment's catalyst atoms (eq. 32) within
  ``max_radius`` Å of the adsorbate (minimum image; a far-away "important" atom is no part of
  a local template), plus the binding atom's site atoms; in the surface frame
  (:func:`~metalegnet.surface.environment.cut_environment`);
* importances w_i and latent vectors s_i of those atoms; the entry's search vector is
  ``[mean_i s_i, s_binding]`` over the environment atoms, L2-normalised;
* descriptors (:mod:`metalegnet.envdb.descriptors`), quality scores and tier
  (:mod:`metalegnet.envdb.quality`), and the source: ``sid``, adsorbate, energy (the
  adsorption energy where the structure has one, else its total energy; ``energy_kind``
  says which, eV), file and index, and a content key (hash of numbers, positions and cell)
  used to resume a build.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from ase import Atoms

from metalegnet.envdb.descriptors import describe
from metalegnet.envdb.quality import quality_tier
from metalegnet.explain.environment import Explanation
from metalegnet.surface.environment import LocalEnvironment, binding_atom, cut_environment

#: Catalyst atoms of the learned environment farther than this from the adsorbate are left
#: out of the template (Å).
MAX_RADIUS = 4.5


@dataclass
class Entry:
    """One environment ready to store (see the module docstring)."""

    environment: LocalEnvironment
    env_atoms: np.ndarray
    latents: np.ndarray
    vector: np.ndarray
    descriptors: dict
    source: dict
    quality: dict


def structure_key(atoms: Atoms) -> str:
    """A content hash of a structure (numbers, positions and cell to 1e-4 Å)."""
    h = hashlib.sha1()
    h.update(np.asarray(atoms.numbers, np.int64).tobytes())
    h.update(np.round(atoms.positions, 4).astype(np.float64).tobytes())
    h.update(np.round(np.asarray(atoms.cell), 4).astype(np.float64).tobytes())
    return h.hexdigest()[:24]


def select_frames(structures: Sequence[Atoms], frames: str = "last") -> list[Atoms]:
    """``all`` frames, or the ``last`` frame of each ``sid`` (structures without one kept)."""
    if frames == "all":
        return list(structures)
    last: dict[str, int] = {}
    for i, a in enumerate(structures):
        sid = a.info.get("sid")
        if sid is None:
            last[f"#{i}"] = i
        else:
            j = last.get(str(sid))
            if j is None or int(a.info.get("fid", i)) >= int(structures[j].info.get("fid", j)):
                last[str(sid)] = i
    return [structures[i] for i in sorted(last.values())]


def source_energy(atoms: Atoms) -> tuple[float | None, str]:
    """The structure's adsorption energy (eV) if it has one, else its total energy."""
    from metalegnet.data.labels import get_labels

    try:
        labels = get_labels(atoms)
    except Exception:  # unreadable labels: no energy rather than no entry
        return None, "none"
    for key, kind in (("e_ads", "adsorption"), ("energy", "total")):
        value = labels.get(key)
        if value is not None and np.isfinite(value):
            return float(value), kind
    return None, "none"


def extract_entry(atoms: Atoms, explanation: Explanation, quality: dict,
                  max_radius: float = MAX_RADIUS, quality_mode: str = "full"
                  ) -> Entry | None:
    """The entry of one tagged structure (None when it has no adsorbate or no substrate)."""
    from metalegnet.explain.references import adsorbate_distances

    tags = atoms.get_tags()
    if not (tags == 2).any() or (tags == 2).all():
        return None
    env = explanation.environment
    d = adsorbate_distances(atoms)
    cat = env.surface_indices
    cat = cat[d[cat] <= max_radius]
    b = binding_atom(atoms)
    energy, kind = source_energy(atoms)
    anomalies = str(atoms.info.get("anomalies", "none") or "none")
    tier = quality_tier(quality["stability"], quality["overlap"], quality["faithfulness"],
                        env.degenerate, anomalies not in ("none", ""), quality_mode)
    key = structure_key(atoms)
    local = cut_environment(atoms, cat, importances=explanation.importance, binding=b,
                            adsorbate=str(atoms.info.get("adsorbate") or "") or None,
                            energy=energy, tier=tier, key=key)
    order = _env_order(atoms, cat, b)
    lat = explanation.latent[order]
    vec = np.concatenate([lat.mean(axis=0), explanation.latent[b]])
    norm = np.linalg.norm(vec)
    source = {"sid": str(atoms.info.get("sid", "")), "adsorbate": local.adsorbate,
              "energy": energy, "energy_kind": kind,
              "source": str(atoms.info.get("source", "")),
              "index": int(atoms.info.get("index", -1)), "key": key,
              "anomalies": anomalies, "predicted_energy": float(explanation.energy)}
    return Entry(local, order, lat, vec / norm if norm > 0 else vec,
                 describe(atoms, local, order), source, dict(quality, tier=tier))


def _env_order(atoms: Atoms, catalyst: np.ndarray, binding: int) -> np.ndarray:
    """Structure indices of the environment atoms in :func:`cut_environment`'s order."""
    from metalegnet.surface.sites import substrate_neighbours

    ads = np.flatnonzero(atoms.get_tags() == 2)
    surf = np.setdiff1d(np.union1d(np.asarray(catalyst, int),
                                   substrate_neighbours(atoms, binding)), ads)
    return np.concatenate([ads, surf]).astype(int)
