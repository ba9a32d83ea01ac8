"""Evaluation: errors of a model on a data set (optionally sharded over DDP ranks), parity
plots, and ``metalegnet evaluate CKPT --data SRC [--split test]``.

Metrics are those of :mod:`metalegnet.train.metrics`: energy MAE/RMSE in eV on the task's
energy target (total, adsorption or relaxed energy), force MAE/RMSE in eV/Å per Cartesian
component over the scored atoms.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from metalegnet import inference
from metalegnet.data.graph import collate
from metalegnet.errors import ConfigError, DataError
from metalegnet.plotting import parity_panel, pyplot, save_png
from metalegnet.train.distributed import DistInfo, all_reduce_sum, shard_range
from metalegnet.train.losses import Objective, force_mask
from metalegnet.train.metrics import MetricSums, prediction_spread


@dataclass
class Predictions:
    """Collected targets and predictions (energies eV ``[S]``, force components eV/Å)."""

    energy_true: list[float] = field(default_factory=list)
    energy_pred: list[float] = field(default_factory=list)
    force_true: list[np.ndarray] = field(default_factory=list)
    force_pred: list[np.ndarray] = field(default_factory=list)

    def arrays(self) -> dict[str, np.ndarray]:
        return {"energy_true": np.asarray(self.energy_true),
                "energy_pred": np.asarray(self.energy_pred),
                "force_true": _cat(self.force_true), "force_pred": _cat(self.force_pred)}


def _cat(xs: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(xs) if xs else np.zeros(0)


def evaluate_model(model: torch.nn.Module, dataset, objective: Objective, batch_size: int,
                   device: torch.device | str = "cpu", dist_info: DistInfo | None = None,
                   collect: bool = False) -> tuple[MetricSums, Predictions | None]:
    """Errors of ``model`` on every item of ``dataset`` (this rank's share under DDP; the
    returned sums are reduced over ranks, ``Predictions`` are local)."""
    info = dist_info or DistInfo()
    indices = shard_range(len(dataset), info.rank, info.world_size)
    sums, preds = MetricSums(), (Predictions() if collect else None)
    was_training = model.training
    model.eval()
    for k in range(0, len(indices), batch_size):
        graph = collate([dataset[i] for i in indices[k:k + batch_size]]).to(device)
        out = inference.forward(model, graph, objective.use_forces)
        energy = out.energy.detach()
        forces = out.forces.detach() if out.forces is not None else None
        objective(energy, forces, graph, metrics=sums)
        if preds is not None:
            _collect(preds, objective, graph, energy, forces)
    model.train(was_training)
    total = all_reduce_sum(sums.to_tensor().to(device)).cpu()
    return MetricSums.from_tensor(total), preds


def _collect(preds: Predictions, objective: Objective, graph, energy, forces) -> None:
    if objective.energy_label is not None:
        preds.energy_true.extend(graph.labels[objective.energy_label].cpu().double().tolist())
        preds.energy_pred.extend(energy.cpu().double().tolist())
    if objective.use_forces:
        mask = force_mask(graph, objective.force_atoms)
        preds.force_true.append(graph.labels["forces"][mask].cpu().double().numpy().ravel())
        preds.force_pred.append(forces[mask].cpu().double().numpy().ravel())


def _spread(preds: Predictions) -> dict[str, float | None]:
    """Standard deviations (eV) of the true and predicted energies and their ratio
    (:func:`~metalegnet.train.metrics.prediction_spread`): a model that predicts its
    reference has a predicted spread far below the true one."""
    if not preds.energy_true:
        return {}
    return {"energy_true_std": float(np.std(preds.energy_true)),
            "energy_pred_std": float(np.std(preds.energy_pred)),
            "energy_ratio": prediction_spread(preds.energy_true, preds.energy_pred)}


def parity_plot(preds: Predictions, path: str | os.PathLike, title: str = "",
                energy_description: str = "energy", metrics: dict | None = None) -> Path:
    """Predicted vs DFT parity plot(s) as PNG: energy (eV) and/or force components (eV/Å)."""
    plt = pyplot()
    arr = preds.arrays()
    panels = []
    if arr["energy_true"].size:
        panels.append(("energy_true", "energy_pred", f"{energy_description} (eV)",
                       "energy_mae", "eV"))
    if arr["force_true"].size:
        panels.append(("force_true", "force_pred", "force component (eV/Å)", "force_mae",
                       "eV/Å"))
    if not panels:
        raise ConfigError("nothing to plot: no energy or force targets")
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 4.4), squeeze=False)
    for ax, (t, p, label, key, unit) in zip(axes[0], panels):
        x, y = arr[t], arr[p]
        mae = (metrics or {}).get(key, float(np.mean(np.abs(y - x))))
        parity_panel(ax, x, y, f"DFT {label}", f"predicted {label}",
                     f"MAE {mae:.4g} {unit}, n={x.size}")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return save_png(fig, path, dpi=120)


def _check_split_data(split, path: Path, structures: Sequence, train_config: dict,
                      data: str) -> None:
    """Raise a one-line :class:`DataError` when ``structures`` are not the data the run's
    split ``path`` was made for (fingerprint; old split files: number of samples)."""
    from metalegnet.data.splits import data_fingerprint, fingerprint_mismatch
    from metalegnet.train.config import config_from_dict
    from metalegnet.train.data import make_samples, stride_frames

    expected = None
    if split.fingerprint is None:  # old file: count the samples as the run made them
        run = config_from_dict(train_config)
        frames = structures if run.task == "is2re" else stride_frames(structures,
                                                                        run.frame_stride)
        expected = len(make_samples(frames, run)[0])
    why = fingerprint_mismatch(split, data_fingerprint(structures), expected)
    if why:
        raise DataError(f"not the data of the run's split {path} ({why}); evaluate with "
                        f"--split all, or on the run's data ({train_config.get('data')})",
                        source=str(data))


def evaluate_checkpoint(checkpoint: str | os.PathLike, data: str,
                        split: str | None = None, out: str | os.PathLike | None = None,
                        splits_file: str | os.PathLike | None = None, batch_size: int = 16,
                        device: str = "cpu", structures: Sequence | None = None,
                        unseen_elements: str = "warn") -> dict:
    """Evaluate a training checkpoint on ``data`` and write ``out`` (JSON) + a parity PNG.

    Args:
        checkpoint: ``checkpoint.pt`` / ``last.pt`` of :func:`metalegnet.train.train`.
        data: any data source (file, folder, glob, LMDB, embedded name).
        split: ``train``/``val``/``test`` of the run's ``splits.json`` (next to the checkpoint
            unless ``splits_file``), or ``None`` for every structure of ``data``.
        out: metrics JSON path (default ``<checkpoint dir>/eval_<split or all>.json``); the
            plot is written beside it with suffix ``.png``.
    """
    from metalegnet.checkpoint import load_checkpoint
    from metalegnet.data.dataset import GraphDataset
    from metalegnet.data.io import read_structures
    from metalegnet.data.splits import apply_split, load_split
    from metalegnet.inference import check_structures
    from metalegnet.train.config import config_from_dict, replace
    from metalegnet.train.data import Normalization, fill_formula, make_samples

    checkpoint = Path(checkpoint)
    model, payload = load_checkpoint(checkpoint, map_location=device)
    meta = payload.get("metadata", {})
    if "train_config" not in meta:
        raise ConfigError(f"{checkpoint}: no training config stored; evaluate needs a "
                          "checkpoint written by 'metalegnet train'")
    config = replace(config_from_dict(meta["train_config"]), data=str(data), frame_stride=1)
    scales = meta.get("loss_scales") or meta.get("normalization")  # older checkpoints
    if not isinstance(scales, dict) or "sigma_energy" not in scales:
        raise ConfigError(f"{checkpoint}: no loss scales stored; evaluate needs a checkpoint "
                          "written by 'metalegnet train'")
    norm = Normalization(sigma_energy=float(scales["sigma_energy"]),
                         sigma_forces=float(scales["sigma_forces"]))
    structures = list(structures) if structures is not None else read_structures(data)
    if split is not None:  # the run's split must be of these data (checked before any work)
        path = Path(splits_file) if splits_file else checkpoint.parent / "splits.json"
        saved = load_split(path)
        _check_split_data(saved, path, structures, meta["train_config"], data)
    check_structures(model, structures, unseen=unseen_elements)  # before any work
    if "formula" in config.group_by:
        fill_formula(structures)
    samples, _ = make_samples(structures, config)
    if split is not None:
        sp = apply_split(saved, [s.atoms for s in samples])
        samples = sp.select(samples, split)
    objective = Objective(config.energy_label, config.uses_forces, norm.loss_scales,
                          config.energy_loss, config.force_loss, config.force_atoms,
                          config.energy_weight, config.force_weight)
    dataset = GraphDataset(samples, config.cutoff)
    sums, preds = evaluate_model(model, dataset, objective, batch_size, device, collect=True)
    metrics = sums.summary(config.energy_weight, config.force_weight, config.uses_energy,
                           config.uses_forces)
    out = Path(out) if out else checkpoint.parent / f"eval_{split or 'all'}.json"
    png = out.with_suffix(".png")
    title = f"{payload.get('model_name', 'model')} {config.task} on {data}" + \
        (f" ({split})" if split else "")
    parity_plot(preds, png, title, config.energy_description, metrics)
    result = {"checkpoint": str(checkpoint), "data": str(data), "split": split or "all",
              "task": config.task, "energy": config.energy_description,
              "units": {"energy_mae": "eV", "force_mae": "eV/Å"}, "metrics": metrics,
              "spread": _spread(preds), "parity_plot": str(png)}
    from metalegnet.config import atomic_write_text

    atomic_write_text(out, json.dumps(result, indent=1) + "\n")
    result["metrics_file"] = str(out)
    return result
