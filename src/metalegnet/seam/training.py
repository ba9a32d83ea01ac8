"""The adsorption-energy model SEAM's benchmarks rank with: a small LegNet trained (S2E,
``e_ads`` in eV) on in-memory structures, cached in a folder.

A folder holding ``metrics.json`` and ``checkpoint.pt`` from a finished run is reused as it is
(same settings assumed); otherwise the model is trained there (validation split by
``group_keys``: 90 / 10, no test split) within ``max_train_s`` seconds, optionally on the
structures plus their placed-pose variants (:mod:`metalegnet.seam.augment`; ``augment``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ase import Atoms

from metalegnet.seam.augment import PoseAugmentConfig, augment_poses


def train_adsorption_model(structures: Sequence[Atoms], out: str | Path,
                           group_keys: Sequence[str], model: str = "legnet-vanilla",
                           num_features: int = 32, num_blocks: int = 2, epochs: int = 40,
                           max_train_s: float = 300.0, seed: int = 0, patience: int = 10,
                           augment: PoseAugmentConfig | None = None):
    """Train (or reuse the finished run in) ``out``; the loaded model."""
    from metalegnet.checkpoint import load_checkpoint
    from metalegnet.surface.detect import with_oc20_tags
    from metalegnet.train.config import TrainConfig
    from metalegnet.train.trainer import train

    out = Path(out)
    if (out / "metrics.json").exists() and (out / "checkpoint.pt").exists():
        return load_checkpoint(out / "checkpoint.pt")[0]
    cfg = TrainConfig(data="in-memory", task="s2e", energy_target="adsorption",
                      energy_key="e_ads", group_by=list(group_keys),
                      split_fractions=[0.9, 0.1, 0.0], model=model,
                      model_config={"num_features": num_features, "num_blocks": num_blocks},
                      epochs=epochs, batch_size=16, seed=seed, device="cpu", num_threads=1,
                      max_time_s=max_train_s, patience=patience, progress=False)
    tagged = [with_oc20_tags(a) for a in structures]
    if augment is not None:
        tagged = augment_poses(tagged, augment)
    train(cfg, out, structures=tagged, log=lambda s: None)
    return load_checkpoint(out / "checkpoint.pt")[0]
