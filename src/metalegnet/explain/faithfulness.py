"""Masking faithfulness of the learned environment (paper §3.5, Fig. 8).

For a structure G with label y (eV) and prediction E(G), a mask M is a set of K catalyst
(non-adsorbate) atoms; G \\ M is G with those atoms deleted, predicted again through the one
inference path (:func:`metalegnet.inference.predict`, no forces):

    ΔE        = E(G \\ M) − E(G)                                     (eV)
    Δ|error|  = |E(G \\ M) − y| − |E(G) − y|                          (eV; y of the full G)
    ΔE_learned = Δ(E − E_ref), E_ref = mu_atom N + mu_graph + Σ_i eps_Z_i  (eV)

``ΔE_learned`` removes the model's fixed per-element reference energies from both sides, so
for a total-energy model it measures the change of what the network learned rather than the
removed atoms' own reference energies (for an adsorption-energy model with no element
references the two agree up to mu_atom K).

Masks, all with K = the number of catalyst atoms in the learned environment:

* ``learned``: the environment's catalyst atoms;
* ``random``: K catalyst atoms drawn uniformly without replacement (``draws`` draws, results
  averaged per structure; seeded, reproducible);
* ``distant``: the K catalyst atoms farthest (minimum image) from the adsorbate.

Structures whose environment holds no catalyst atom (K = 0) or no adsorbate are skipped
(counted in ``skipped``). Paper's ordering of |ΔE| and Δ|error|: learned > random > distant.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from ase import Atoms

from metalegnet.explain.environment import AdsorptionEnvironment
from metalegnet.explain.references import (
    adsorbate_distances,
    catalyst_indices,
    farthest_catalyst,
)

MASKS = ("learned", "random", "distant")


@dataclass
class MaskingResult:
    """Per kept structure (``index`` into the input), per mask name: ``dE``, ``abs_dE``,
    ``d_abs_error`` (NaN without labels) and ``abs_dE_learned``, arrays over structures."""

    index: np.ndarray
    size: np.ndarray
    per_mask: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    skipped: int = 0

    def summary(self) -> dict:
        """Means over structures (eV) and, per mask, the fraction of structures where the
        learned mask moved the prediction more than this one."""
        out: dict = {"num_structures": int(self.index.size), "skipped": self.skipped,
                     "mean_mask_size": float(self.size.mean()) if self.size.size else None}
        for name, cols in self.per_mask.items():
            out[name] = {k: _mean(v) for k, v in cols.items() if k != "dE"}
            out[name]["dE"] = _mean(cols["dE"])
        if "learned" in self.per_mask:
            ref = self.per_mask["learned"]["abs_dE"]
            for name in MASKS[1:]:
                if name in self.per_mask and ref.size:
                    out[name]["learned_larger_fraction"] = float(
                        np.mean(ref > self.per_mask[name]["abs_dE"]))
        return out


def _mean(v: np.ndarray) -> float | None:
    v = np.asarray(v, dtype=np.float64)
    v = v[np.isfinite(v)]
    return float(v.mean()) if v.size else None


def masked(atoms: Atoms, remove: Sequence[int]) -> Atoms:
    """A copy of ``atoms`` without the atoms ``remove`` (tags, constraints, info kept)."""
    out = atoms.copy()
    out.calc = None
    if len(remove):
        del out[np.asarray(sorted(set(int(i) for i in remove)), dtype=np.int64)]
    return out


def mask_sets(atoms: Atoms, env: AdsorptionEnvironment, draws: int,
              rng: np.random.Generator) -> dict[str, list[np.ndarray]]:
    """The index sets removed by each mask (``random`` has ``draws`` of them)."""
    k = int(env.surface_indices.size)
    cat = catalyst_indices(atoms)
    d = adsorbate_distances(atoms)
    return {"learned": [env.surface_indices],
            "random": [np.sort(rng.choice(cat, size=k, replace=False)) for _ in range(draws)],
            "distant": [farthest_catalyst(atoms, k, d)]}


def _reference_energy(model: torch.nn.Module, atoms: Atoms) -> float:
    """E_ref (eV) of the model's normalisation for this composition (0 without one)."""
    norm = getattr(model, "normalization", None)
    if norm is None:
        return 0.0
    refs = norm.element_references.detach().cpu().double().numpy()
    return float(float(norm.energy_shift_atom) * len(atoms) + float(norm.energy_shift_graph)
                 + refs[atoms.numbers].sum())


def masking_faithfulness(model: torch.nn.Module, structures: Sequence[Atoms],
                         environments: Sequence[AdsorptionEnvironment],
                         energies: Sequence[float], labels: Sequence[float] | None = None,
                         draws: int = 5, seed: int = 0, batch_size: int = 16
                         ) -> MaskingResult:
    """Mask every structure's learned environment and its two controls (module docstring).

    ``energies`` are the full structures' predictions E(G) (eV, e.g. from
    ``explain_structures``); ``labels`` their targets y (eV) or None."""
    from metalegnet import inference

    rng = np.random.default_rng(seed)
    jobs: list[tuple[int, str, Atoms]] = []
    kept, sizes, skipped = [], [], 0
    for i, (atoms, env) in enumerate(zip(structures, environments)):
        k = int(env.surface_indices.size)
        if k == 0 or not env.adsorbate.any() or k >= catalyst_indices(atoms).size:
            skipped += 1
            continue
        kept.append(i)
        sizes.append(k)
        for name, sets in mask_sets(atoms, env, draws, rng).items():
            jobs.extend((i, name, masked(atoms, s)) for s in sets)
    preds = inference.predict(model, [a for _, _, a in jobs], batch_size=batch_size,
                              compute_forces=False, unseen="ignore")
    acc: dict[tuple[int, str], list[tuple[float, float]]] = {}
    for (i, name, atoms), p in zip(jobs, preds):
        acc.setdefault((i, name), []).append((p.energy, _reference_energy(model, atoms)))
    result = MaskingResult(index=np.asarray(kept, dtype=np.int64),
                           size=np.asarray(sizes, dtype=np.int64), skipped=skipped)
    for name in MASKS:
        cols: dict[str, list[float]] = {"dE": [], "abs_dE": [], "d_abs_error": [],
                                        "abs_dE_learned": []}
        for i in kept:
            e0 = float(energies[i])
            ref0 = _reference_energy(model, structures[i])
            rows = np.asarray(acc[(i, name)], dtype=np.float64)
            de = rows[:, 0] - e0
            cols["dE"].append(float(de.mean()))
            cols["abs_dE"].append(float(np.abs(de).mean()))
            cols["abs_dE_learned"].append(float(np.abs(de - (rows[:, 1] - ref0)).mean()))
            if labels is None or labels[i] is None or not np.isfinite(labels[i]):
                cols["d_abs_error"].append(float("nan"))
            else:
                y = float(labels[i])
                cols["d_abs_error"].append(float(np.mean(np.abs(rows[:, 0] - y))
                                                 - abs(e0 - y)))
        result.per_mask[name] = {k: np.asarray(v, dtype=np.float64) for k, v in cols.items()}
    return result
