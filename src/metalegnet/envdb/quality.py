"""Quality of a learned environment: three scores from :mod:`metalegnet.explain`, one tier.

Scores per structure (all from the explanation module, through the one inference path):

* ``stability``: mean IoU of the environment's catalyst atoms under a rotation, a translation
  and a permutation of the structure (:func:`~metalegnet.explain.stability.transform_stability`,
  ``draws`` each); 1 = the same atoms whatever the frame.
* ``overlap``: IoU of the catalyst atoms with the geometric cutoff reference (within 3 Å of
  the adsorbate, :func:`~metalegnet.explain.references.reference_overlaps`); low values mean
  the model's environment sits away from the adsorbate.
* ``faithfulness``: |ΔE_learned| of masking the environment's catalyst atoms divided by the
  mean |ΔE_learned| of masking as many random catalyst atoms
  (:func:`~metalegnet.explain.faithfulness.masking_faithfulness`); above 1 the learned atoms
  matter more to the prediction than random ones.

Tier (1 best):

* 1: stability >= 0.8, overlap >= 0.5 and faithfulness >= 1;
* 2: stability >= 0.5 and (overlap >= 0.3 or faithfulness >= 1);
* 3: otherwise, and always for a degenerate environment (no Otsu threshold), a source
  trajectory flagged with anomalies, or a score that could not be computed (NaN).

``mode="none"`` skips the scores (NaN) and gives tier 2 to every clean, non-degenerate
environment, tier 3 to the rest.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from ase import Atoms

from metalegnet.errors import ConfigError
from metalegnet.explain.environment import Explanation

MODES = ("full", "none")


@dataclass(frozen=True)
class QualityConfig:
    """Quality settings: ``mode`` (full / none), draws per stability transform and per
    random mask, seed."""

    mode: str = "full"
    stability_draws: int = 1
    mask_draws: int = 2
    seed: int = 0

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigError(f"quality mode must be one of {MODES}, got {self.mode!r}")


def quality_tier(stability: float, overlap: float, faithfulness: float, degenerate: bool,
                 anomalous: bool, mode: str = "full") -> int:
    """The tier of the module docstring."""
    if degenerate or anomalous:
        return 3
    if mode == "none":
        return 2
    if any(math.isnan(x) for x in (stability, overlap, faithfulness)):
        return 3
    if stability >= 0.8 and overlap >= 0.5 and faithfulness >= 1.0:
        return 1
    if stability >= 0.5 and (overlap >= 0.3 or faithfulness >= 1.0):
        return 2
    return 3


def quality_scores(model: torch.nn.Module, structures: Sequence[Atoms],
                   explanations: Sequence[Explanation], config: QualityConfig,
                   batch_size: int = 16) -> list[dict]:
    """``[{"stability", "overlap", "faithfulness"}]`` per structure (NaN where undefined)."""
    n = len(structures)
    out = [{"stability": math.nan, "overlap": math.nan, "faithfulness": math.nan}
           for _ in range(n)]
    if config.mode == "none" or n == 0:
        return out
    from metalegnet.explain.faithfulness import masking_faithfulness
    from metalegnet.explain.references import reference_overlaps
    from metalegnet.explain.stability import transform_stability

    envs = [e.environment for e in explanations]
    stab = transform_stability(model, structures, envs, draws=config.stability_draws,
                               seed=config.seed, batch_size=batch_size)
    mean_stab = np.mean(np.stack(list(stab.values())), axis=0)
    masks = masking_faithfulness(model, structures, envs, [e.energy for e in explanations],
                                 draws=config.mask_draws, seed=config.seed,
                                 batch_size=batch_size)
    learned = masks.per_mask.get("learned", {}).get("abs_dE_learned", np.zeros(0))
    random = masks.per_mask.get("random", {}).get("abs_dE_learned", np.zeros(0))
    faith = {int(i): float(a / b) if b > 1e-12 else math.nan
             for i, a, b in zip(masks.index, learned, random)}
    for i in range(n):
        out[i]["stability"] = float(mean_stab[i])
        try:
            out[i]["overlap"] = float(reference_overlaps(structures[i], envs[i])["cutoff"].iou)
        except ValueError:
            pass
        out[i]["faithfulness"] = faith.get(i, math.nan)
    return out
