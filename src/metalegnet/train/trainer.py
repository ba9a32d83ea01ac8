"""Supervised training of LegNet for S2E, S2F, S2EF and IS2RE (``metalegnet train``).

One run writes into its output folder: ``checkpoint.pt`` (EMA weights with the best
validation score), ``last.pt`` (everything needed to resume: weights, AdamW, schedule, EMA,
position in the epoch, history; written every ``checkpoint_every`` steps, at least every
``checkpoint_interval_s`` seconds and at every epoch end), ``config.yaml``, ``splits.json``,
``log.csv`` and ``metrics.json`` (``{"val": {...}, "test": {...}}``, energies eV, forces eV/Å).

Determinism: model initialisation comes from ``seed``, the epoch order from
``(seed, epoch)``; a run killed at any point and resumed from ``last.pt`` replays exactly the
steps an uninterrupted run takes. For S2EF the energy head (output block, eqs. 17-21) and the
force head (eq. 22 or 23) sit on one shared backbone, as in the paper's §3.1.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from metalegnet.checkpoint import read_checkpoint, save_checkpoint
from metalegnet.config import remove_orphan_tmp, to_dict
from metalegnet.data.graph import collate
from metalegnet.errors import ConfigError
from metalegnet.model import LegNet, LegNetConfig
from metalegnet.train import distributed as D
from metalegnet.train.baselines import trivial_baselines
from metalegnet.train.config import TrainConfig, save_config
from metalegnet.train.data import PreparedData, prepare_data
from metalegnet.train.evaluate import evaluate_model
from metalegnet.train.losses import Objective
from metalegnet.train.metrics import MetricSums
from metalegnet.train.runlog import Progress, history_row, write_log, write_metrics
from metalegnet.train.schedule import EMA, LRSchedule


class TrainingInterrupted(RuntimeError):
    """Raised by the ``stop_after_steps`` test hook (simulates a killed run)."""


def build_model(config: TrainConfig) -> torch.nn.Module:
    """LegNet of the configured variant, or a library baseline (same interface)."""
    torch.manual_seed(config.seed)
    if config.is_legnet:
        return LegNet(LegNetConfig(**config.model_kwargs()))
    from metalegnet.model.baselines import build_baseline

    return build_baseline(config.model, config.model_kwargs())


class Trainer:
    """Holds the model, optimiser, schedule, EMA and run state; :meth:`fit` trains."""

    def __init__(self, config: TrainConfig, out_dir: str | Path, resume: bool = False,
                 structures: Sequence | None = None, stop_after_steps: int | None = None,
                 log: Callable[[str], None] = print) -> None:
        self.config = config
        self.out = Path(out_dir)
        self.stop_after_steps = stop_after_steps
        self.dist, self.device = D.init_distributed(config.device)
        self.log = log if self.dist.is_main else (lambda *_: None)
        if config.num_threads:
            torch.set_num_threads(config.num_threads)
        self._check_out_dir(resume)
        if self.dist.is_main:
            self._remove_orphans()
        splits = self.out / "splits.json"
        self.data: PreparedData = prepare_data(
            config, structures, splits if (self.dist.is_main or splits.exists()) else None)
        for warning in self.data.warnings:
            self.log(f"warning: {warning}")
        self.out.mkdir(parents=True, exist_ok=True)
        if self.dist.is_main:
            save_config(config, self.out / "config.yaml")
        self.norm = self.data.normalization
        self.model = build_model(config)
        self.norm.apply(self.model)
        self.model.to(self.device)
        self.eval_model = copy.deepcopy(self.model)
        self.direct_head = getattr(self.model.config, "force_head", "direct") == "direct"
        self.objective = Objective(config.energy_label, config.uses_forces,
                                   self.norm.loss_scales, config.energy_loss,
                                   config.force_loss, config.force_atoms,
                                   config.energy_weight, config.force_weight)
        self.train_set = self.data.dataset("train", config.cutoff)
        self.val_set = self.data.dataset("val", config.cutoff)
        self.test_set = self.data.dataset("test", config.cutoff)
        self.steps_per_epoch = len(D.global_batches(len(self.train_set), config.batch_size,
                                                    config.seed, 0, self.dist.world_size))
        if self.steps_per_epoch == 0:
            raise ConfigError("the training split is smaller than the number of processes")
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=config.lr,
                                           weight_decay=config.weight_decay)
        self.schedule = LRSchedule(self.optimizer, config.lr,
                                   config.epochs * self.steps_per_epoch, config.scheduler,
                                   config.warmup_fraction, config.min_lr_ratio,
                                   config.plateau_factor, config.plateau_patience)
        self.ema = EMA(self.model, config.ema_decay) if config.ema_decay > 0 else None
        self.ddp = D.wrap_ddp(self.model, self.device)
        self.state = {"epoch": 0, "step_in_epoch": 0, "global_step": 0, "best": math.inf,
                      "best_epoch": -1, "bad_epochs": 0, "elapsed_s": 0.0, "done": False,
                      "stopped": "", "history": []}
        self.train_sums = MetricSums()
        if resume and (self.out / "last.pt").exists():
            self._load_last()

    # ------------------------------------------------------------------ set-up helpers
    def _check_out_dir(self, resume: bool) -> None:
        if resume:
            return
        for name in ("last.pt", "checkpoint.pt"):
            if (self.out / name).exists():
                raise ConfigError(f"{self.out} already holds a run ({name}); pass --resume to "
                                  "continue it or choose another --out")

    def _remove_orphans(self) -> None:
        """Delete the temporary files of writes a killed run left unfinished
        (``.last.pt.XXXXXXXX.tmp``, ...; every file of a run is written atomically)."""
        removed = remove_orphan_tmp(self.out)
        if removed:
            self.log(f"removed {len(removed)} unfinished file(s) of a killed write: "
                     + ", ".join(p.name for p in removed))

    def metadata(self, epoch: int, val: dict | None = None) -> dict:
        c = self.config
        return {"task": c.task, "energy_target": c.energy_target,
                "energy_label": c.energy_label, "energy": c.energy_description,
                "units": {"energy": "eV", "forces": "eV/Å"}, "epoch": epoch,
                "val": val or {}, "train_config": to_dict(c),
                "loss_scales": self.norm.loss_dict()}

    def _save_last(self) -> None:
        # global train sums live on rank 0 only, so a resumed epoch adds up the same
        total = D.all_reduce_sum(self.train_sums.to_tensor().to(self.device)).cpu()
        self.train_sums = MetricSums.from_tensor(total) if self.dist.is_main else MetricSums()
        if not self.dist.is_main:
            return
        save_checkpoint(self.out / "last.pt", self.model, self.config.model,
                        self.metadata(self.state["epoch"]),
                        optimizer=self.optimizer.state_dict(),
                        schedule=self.schedule.state_dict(),
                        ema=self.ema.state_dict() if self.ema else None,
                        state=dict(self.state), train_sums=self.train_sums.state_dict(),
                        rng=torch.get_rng_state())

    def _load_last(self) -> None:
        payload = read_checkpoint(self.out / "last.pt", map_location=self.device)
        self.model.load_state_dict(payload["state_dict"])
        self.optimizer.load_state_dict(payload["optimizer"])
        self.schedule.load_state_dict(payload["schedule"])
        if self.ema is not None and payload.get("ema") is not None:
            self.ema.load_state_dict(payload["ema"])
        self.state.update(payload["state"])
        if self.dist.is_main:
            self.train_sums = MetricSums(**payload["train_sums"])
        torch.set_rng_state(payload["rng"].cpu())
        self.log(f"resuming {self.out} at epoch {self.state['epoch'] + 1}, step "
                 f"{self.state['step_in_epoch']} of {self.steps_per_epoch}")

    def _eval_weights(self) -> torch.nn.Module:
        """The model evaluated for validation: the EMA weights when EMA is on."""
        if self.ema is not None:
            self.ema.copy_to(self.eval_model)
        else:
            self.eval_model.load_state_dict(self.model.state_dict())
        return self.eval_model

    def _evaluate(self, model: torch.nn.Module, dataset) -> dict:
        c = self.config
        if len(dataset) == 0:
            return {}
        sums, _ = evaluate_model(model, dataset, self.objective,
                                 c.eval_batch_size or c.batch_size, self.device, self.dist)
        return sums.summary(c.energy_weight, c.force_weight, c.uses_energy, c.uses_forces)

    # ------------------------------------------------------------------ training
    def _loader(self, batches: list[list[int]], start: int) -> DataLoader:
        """This rank's shards of ``batches[start:]``; graphs are built in ``num_workers``
        background processes (0: in this process)."""
        shards = [D.shard(b, self.dist.rank, self.dist.world_size) for b in batches[start:]]
        workers = self.config.num_workers
        return DataLoader(self.train_set, batch_sampler=shards, collate_fn=collate,
                          num_workers=workers, persistent_workers=False,
                          pin_memory=self.device.type == "cuda" and workers > 0)

    def _train_step(self, graph) -> None:
        graph = graph.to(self.device)
        self.schedule.set_step(self.state["global_step"])
        self.model.train()
        out = self.ddp(graph, compute_forces=self.objective.use_forces or self.direct_head)
        sums = self.objective(out.energy, out.forces, graph, metrics=self.train_sums)
        counts = torch.tensor([sums.num_graphs, sums.num_atoms], dtype=torch.float64,
                              device=self.device)
        g, a = (int(x) for x in D.all_reduce_sum(counts).tolist())
        loss = self.objective.loss(sums, g, a) * self.dist.world_size
        # Heads the task does not score get zero gradients, so every parameter takes part
        # in each step (DDP then needs no find_unused_parameters graph traversal).
        if self.objective.energy_label is None:
            loss = loss + 0.0 * out.energy.sum()
        if not self.objective.use_forces and out.forces is not None:
            loss = loss + 0.0 * out.forces.sum()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.config.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        self.optimizer.step()
        if self.ema is not None:
            self.ema.update(self.model)

    def _decide(self, last_save: float, t_start: float) -> tuple[bool, bool]:
        """(checkpoint now, out of time) -- decided on rank 0 and broadcast."""
        c, s = self.config, self.state
        save = bool(c.checkpoint_every and s["global_step"] % c.checkpoint_every == 0)
        save = save or (time.time() - last_save) > c.checkpoint_interval_s
        elapsed = s["elapsed_s"] + time.time() - t_start
        stop = c.max_time_s is not None and elapsed > c.max_time_s
        if self.dist.enabled:
            flags = torch.tensor([int(save), int(stop)], device=self.device)
            torch.distributed.broadcast(flags, src=0)
            save, stop = bool(flags[0]), bool(flags[1])
        return save, stop

    def fit(self) -> dict:
        """Train until ``epochs``, early stopping or ``max_time_s``; then score the best
        checkpoint on validation and test and write ``metrics.json``."""
        c, s = self.config, self.state
        progress = Progress(self.dist.is_main and c.progress, c.epochs * self.steps_per_epoch)
        while not s["done"] and s["epoch"] < c.epochs:
            t_start = last_save = time.time()
            batches = D.global_batches(len(self.train_set), c.batch_size, c.seed, s["epoch"],
                                       self.dist.world_size)
            progress.start_epoch(s["epoch"], c.epochs, len(batches), s["step_in_epoch"])
            out_of_time = False
            loader = self._loader(batches, s["step_in_epoch"])
            for k, graph in enumerate(loader, start=s["step_in_epoch"]):
                self._train_step(graph)
                s["global_step"] += 1
                s["step_in_epoch"] = k + 1
                progress.step(s["global_step"], self._live())
                if self.stop_after_steps and s["global_step"] >= self.stop_after_steps:
                    progress.end_epoch()
                    raise TrainingInterrupted(f"stopped after {s['global_step']} steps")
                save, out_of_time = self._decide(last_save, t_start)
                if out_of_time:
                    break
                if save and k + 1 < len(batches):
                    s["elapsed_s"] += time.time() - t_start
                    t_start = last_save = time.time()
                    self._save_last()
            progress.end_epoch()
            s["elapsed_s"] += time.time() - t_start
            self._end_epoch(out_of_time)
        return self._finish(progress)

    def _live(self) -> dict:
        m = self.train_sums.summary(with_energy=self.config.uses_energy,
                                    with_forces=self.config.uses_forces)
        live = {k: m[k] for k in ("energy_mae", "force_mae") if k in m}
        live["lr"] = self.optimizer.param_groups[0]["lr"]
        return live

    def _end_epoch(self, out_of_time: bool) -> None:
        c, s = self.config, self.state
        total = D.all_reduce_sum(self.train_sums.to_tensor().to(self.device)).cpu()
        train = MetricSums.from_tensor(total).summary(c.energy_weight, c.force_weight,
                                                      c.uses_energy, c.uses_forces)
        model = self._eval_weights()
        val = self._evaluate(model, self.val_set) or train
        score = val.get(c.monitor, val["loss"])
        self.schedule.epoch_end(score)
        if score < s["best"] - 1e-12:
            s["best"], s["best_epoch"], s["bad_epochs"] = score, s["epoch"], 0
            if self.dist.is_main:
                save_checkpoint(self.out / "checkpoint.pt", model, c.model,
                                self.metadata(s["epoch"] + 1, val))
        else:
            s["bad_epochs"] += 1
        s["last_train"] = train
        s["history"].append(history_row(s["epoch"] + 1, s["global_step"],
                                        self.optimizer.param_groups[0]["lr"],
                                        s["elapsed_s"], train, val))
        self.log(f"epoch {s['epoch'] + 1}/{c.epochs}: " + _fmt(train, "train") + "; "
                 + _fmt(val, "val"))
        s["epoch"] += 1
        s["step_in_epoch"] = 0
        self.train_sums = MetricSums()
        if c.patience and s["bad_epochs"] >= c.patience:
            s["done"], s["stopped"] = True, f"early stopping after epoch {s['epoch']}"
        if out_of_time:
            s["done"], s["stopped"] = True, f"max_time_s={c.max_time_s} reached"
        if not math.isfinite(float(train.get("loss", 0.0))):
            kept = (f"kept the best checkpoint (epoch {s['best_epoch'] + 1})"
                    if s["best_epoch"] >= 0 else "no finite checkpoint to keep")
            s["done"], s["stopped"] = True, (
                f"training diverged: the training loss of epoch {s['epoch']} is not finite; "
                f"{kept}; a lower lr (now {c.lr:g}) or grad_clip usually helps")
        if self.dist.is_main:
            write_log(self.out / "log.csv", s["history"])
        self._save_last()

    def _finish(self, progress: Progress) -> dict:
        c, s = self.config, self.state
        D.barrier()
        if s["stopped"]:
            self.log(s["stopped"])
        if s["best_epoch"] < 0:
            raise ConfigError(f"{self.out}: no checkpoint written, no epoch had a finite "
                              f"validation score ({s['stopped'] or 'no epoch run'})")
        best = read_checkpoint(self.out / "checkpoint.pt", map_location=self.device)
        self.eval_model.load_state_dict(best["state_dict"])
        val = self._evaluate(self.eval_model, self.val_set)
        test = self._evaluate(self.eval_model, self.test_set)
        metrics = {"task": c.task, "energy": c.energy_description,
                   "energy_label": c.energy_label, "model": c.model, "data": c.data,
                   "units": {"energy_mae": "eV", "energy_rmse": "eV", "force_mae": "eV/Å",
                             "force_rmse": "eV/Å"},
                   "best_epoch": s["best_epoch"] + 1, "epochs_run": s["epoch"],
                   "stopped": s["stopped"] or None,
                   "steps": s["global_step"], "train_time_s": round(s["elapsed_s"], 2),
                   "num_samples": {p: len(self.data.split.indices(p))
                                   for p in ("train", "val", "test")},
                   "num_dropped": self.data.num_dropped,
                   "last_train": s.get("last_train", {}), "val": val, "test": test,
                   "baselines_test": trivial_baselines(self.data.part("train"),
                                                       self.data.part("test"), c)}
        if self.dist.is_main:
            write_metrics(self.out / "metrics.json", metrics)
            self.log("test: " + _fmt(test, "") + f"  [{c.energy_description}]")
            self.log(f"wrote {self.out}/checkpoint.pt, last.pt, config.yaml, splits.json, "
                     "log.csv, metrics.json")
        return metrics


def _fmt(m: dict, prefix: str) -> str:
    parts = []
    if "energy_mae" in m:
        parts.append(f"energy MAE {m['energy_mae']:.4f} eV")
    if "force_mae" in m:
        parts.append(f"force MAE {m['force_mae']:.4f} eV/Å")
    if "n" in m:
        parts.append(f"n={m['n']}")
    return (prefix + " " if prefix else "") + ", ".join(parts)


def train(config: TrainConfig, out_dir: str | Path, resume: bool = False,
          structures: Sequence | None = None, stop_after_steps: int | None = None,
          log: Callable[[str], None] = print) -> dict:
    """Run one training (see the module docstring) and return the ``metrics.json`` dict.

    Args:
        config: the run's settings.
        out_dir: output folder.
        resume: continue from ``out_dir/last.pt`` when it exists.
        structures: in-memory structures instead of reading ``config.data``.
        stop_after_steps: test hook; raise :class:`TrainingInterrupted` after this many
            optimiser steps without saving (like a killed process).
    """
    trainer = Trainer(config, out_dir, resume, structures, stop_after_steps, log)
    return trainer.fit()
