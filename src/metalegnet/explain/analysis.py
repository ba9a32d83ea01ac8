"""One explanation run on a model and a list of structures: environments, geometric overlap,
masking and stability, as per-structure records and a ``summary.json``-shaped dict.

Conventions of the summary (means over structures; energies eV, distances Å):

* ``overlap``: ``chance_iou`` is the IoU a random set of the learned size would have (see
  ``references.chance_iou``), the baseline to read IoU against; over structures whose
  learned environment holds >= 1 catalyst atom (with none,
  the size-matched kNN set is empty by construction and its IoU of 1 would say nothing);
* ``masking``: over structures with 1 <= K < number of catalyst atoms (see ``faithfulness``);
* ``stability``: IoU of the catalyst part of the environment with the untransformed (or, for
  seeds, pairwise between models') environment.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch
from ase import Atoms

from metalegnet.config import check_fields
from metalegnet.errors import ConfigError
from metalegnet.explain.environment import Explanation, explain_structures
from metalegnet.explain.faithfulness import MASKS, masking_faithfulness
from metalegnet.explain.references import (
    DEFAULT_REFERENCE_CUTOFF,
    chance_overlaps,
    reference_overlaps,
)
from metalegnet.explain.stability import seed_stability, transform_stability


@dataclass
class ExplainConfig:
    """Settings of an explanation run.

    Attributes:
        reference_cutoff: radius r (Å) of the fixed distance-cutoff reference.
        random_draws: random masks per structure. stability_draws: draws per transform.
        stability_structures: how many structures (the first ones) the stability runs use.
        scope: atoms whose weights set the Otsu threshold (``all`` = eq. 32, ``catalyst``).
        seed: random masks and transforms. batch_size: structures per forward pass.
    """

    reference_cutoff: float = DEFAULT_REFERENCE_CUTOFF
    random_draws: int = 5
    stability_draws: int = 2
    stability_structures: int = 20
    scope: str = "all"
    seed: int = 0
    batch_size: int = 16

    def __post_init__(self) -> None:
        check_fields(self)
        if self.scope not in ("all", "catalyst"):
            raise ConfigError(f"scope must be 'all' or 'catalyst', got {self.scope!r}")
        if min(self.random_draws, self.stability_structures, self.batch_size) < 1 or \
                self.stability_draws < 0 or self.reference_cutoff <= 0:
            raise ConfigError("ExplainConfig: draws, structures and batch size must be >= 1 "
                              "(stability_draws >= 0) and the reference cutoff > 0")


def _nanmean(values) -> float | None:
    v = np.asarray([np.nan if x is None else x for x in values], dtype=np.float64)
    v = v[np.isfinite(v)]
    return float(v.mean()) if v.size else None


def analyse(model: torch.nn.Module, structures: Sequence[Atoms],
            labels: Sequence[float | None] | None = None, config: ExplainConfig | None = None,
            seed_models: Sequence[torch.nn.Module] = (), log=print
            ) -> tuple[list[Explanation], list[dict], dict]:
    """Explain ``structures`` and validate the environments; ``(explanations, records,
    summary)``. ``labels``: the model's target per structure (eV) or None."""
    cfg = config or ExplainConfig()
    structures = list(structures)
    labels = list(labels) if labels is not None else [None] * len(structures)
    log(f"explaining {len(structures)} structures (Otsu scope {cfg.scope})")
    exps = explain_structures(model, structures, cfg.batch_size, scope=cfg.scope)
    records = []
    for i, (atoms, ex) in enumerate(zip(structures, exps)):
        env = ex.environment
        rec = {"index": i, "sid": str(atoms.info.get("sid", i)),
               "formula": atoms.get_chemical_formula(), "num_atoms": len(atoms),
               "energy_pred": ex.energy, "label": labels[i],
               "environment_size": env.size,
               "environment_catalyst_size": int(env.surface.sum()),
               "threshold": None if env.degenerate else env.threshold,
               "degenerate": env.degenerate,
               "adsorbate_only": bool(env.adsorbate.any() and not env.surface.any()),
               "environment": env.indices.tolist()}
        if env.adsorbate.any() and env.surface.any():
            ov = reference_overlaps(atoms, env, cfg.reference_cutoff)
            rec["overlap"] = {k: v.as_dict() for k, v in ov.items()}
            for k, v in chance_overlaps(atoms, ov).items():
                rec["overlap"][k]["chance_iou"] = v
        ads = atoms.get_tags() == 2
        total = float(np.abs(ex.contributions).sum())
        rec["adsorbate_share"] = float(np.abs(ex.contributions[ads]).sum() / total) \
            if total > 0 else None
        if ex.gate is not None:
            rec["gate_adsorbate"] = float(ex.gate[ads].mean()) if ads.any() else None
            rec["gate_catalyst"] = float(ex.gate[~ads].mean()) if (~ads).any() else None
        records.append(rec)
    log("masking: learned / random / distant")
    mask = masking_faithfulness(model, structures, [e.environment for e in exps],
                                [e.energy for e in exps], labels, cfg.random_draws, cfg.seed,
                                cfg.batch_size)
    for row, i in enumerate(mask.index):
        records[i]["masking"] = {m: {k: float(v[row]) for k, v in mask.per_mask[m].items()}
                                 for m in MASKS}
    stability = {}
    sub = slice(0, min(cfg.stability_structures, len(structures)))
    if cfg.stability_draws > 0 and structures:
        log(f"stability on {len(structures[sub])} structures: rotations, translations, "
            "permutations" + (f", {1 + len(seed_models)} seeds" if seed_models else ""))
        scores = transform_stability(model, structures[sub], [e.environment for e in exps[sub]],
                                     cfg.stability_draws, cfg.seed, cfg.batch_size,
                                     scope=cfg.scope)
        if seed_models:
            scores["seeds"] = seed_stability([model, *seed_models], structures[sub],
                                             cfg.batch_size, cfg.scope)
        for name, v in scores.items():
            stability[name] = {"mean_iou": float(np.mean(v)), "n": int(v.size)}
            for i, s in enumerate(v):
                records[i].setdefault("stability", {})[name] = float(s)
    summary = summarise(records, mask.summary(), stability, cfg)
    return exps, records, summary


def summarise(records: list[dict], masking: dict, stability: dict, cfg: ExplainConfig) -> dict:
    """The ``summary.json`` dict (see the module docstring)."""
    with_ov = [r for r in records if "overlap" in r]
    overlap = {ref: {m: _nanmean([r["overlap"][ref][m] for r in with_ov])
                     for m in ("precision", "recall", "iou", "chance_iou")}
               for ref in ("cutoff", "knn")}
    overlap["cutoff"]["radius_A"] = cfg.reference_cutoff
    overlap["num_structures"] = len(with_ov)
    for ref in ("cutoff", "knn"):
        overlap[ref]["mean_reference_size"] = _nanmean(
            [r["overlap"][ref]["reference_size"] for r in with_ov])
    mean_abs = {m: (masking.get(m) or {}).get("abs_dE") for m in MASKS}
    order = sorted((m for m in MASKS if mean_abs[m] is not None), key=lambda m: -mean_abs[m])
    masking = dict(masking, ordering_abs_dE=" > ".join(order),
                   paper_ordering_holds=order == list(MASKS) if len(order) == 3 else None)
    n = len(records)
    env = {"scope": cfg.scope, "num_structures": n,
           "mean_size": _nanmean([r["environment_size"] for r in records]),
           "mean_catalyst_size": _nanmean([r["environment_catalyst_size"] for r in records]),
           "mean_num_atoms": _nanmean([r["num_atoms"] for r in records]),
           "adsorbate_only_fraction": (sum(r["adsorbate_only"] for r in records) / n
                                       if n else None),
           "degenerate": sum(r["degenerate"] for r in records),
           # share of sum |c_i| on the adsorbate, mean gate gamma_i per part
           "adsorbate_share": _nanmean([r.get("adsorbate_share") for r in records]),
           "gate_adsorbate": _nanmean([r.get("gate_adsorbate") for r in records]),
           "gate_catalyst": _nanmean([r.get("gate_catalyst") for r in records])}
    return {"environment": env, "overlap": overlap, "masking": masking,
            "stability": stability, "config": asdict(cfg),
            "units": {"abs_dE": "eV", "d_abs_error": "eV", "radius_A": "Å"}}
