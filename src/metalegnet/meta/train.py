"""The meta-training loop (``metalegnet meta-train``): MAML over source tasks, or the
closed-form ridge head (``inner: ridge-head``, :mod:`metalegnet.meta.head`).

One run writes into its folder: ``checkpoint.pt`` (the meta-trained initialisation theta, a
normal model checkpoint plus the inner-loop settings in ``metadata["meta"]`` and, with
Meta-SGD, the learned rates under ``inner_lrs``), ``last.pt`` (weights, Adam state, step,
history: everything to resume; written atomically every ``checkpoint_every`` steps and at
the end), ``config.yaml``, ``tasks.json`` (source and target tasks, the leak-check keys) and
``log.csv`` (meta-loss per step). The tasks of outer step t are drawn with the seed
``(seed, t)``, so a killed and resumed run takes the steps an uninterrupted one takes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from metalegnet.checkpoint import load_checkpoint, read_checkpoint, save_checkpoint
from metalegnet.config import atomic_write_text, remove_orphan_tmp, to_dict
from metalegnet.data.graph import AtomicGraph, atoms_to_graph, collate
from metalegnet.data.io import read_structures
from metalegnet.errors import ConfigError, DataError
from metalegnet.meta.adapt import held_out_rmse, small_support_policy
from metalegnet.meta.config import MetaTrainConfig, save_meta_config
from metalegnet.meta.head import head_meta_loss, small_support_head_policy
from metalegnet.meta.maml import exact_higher_derivatives, init_inner_lrs, meta_loss
from metalegnet.meta.tasks import Task, build_tasks, check_no_leak, parse_where, split_source_target
from metalegnet.train.data import Normalization, fit_normalization, labelled_samples
from metalegnet.train.losses import Objective
from metalegnet.train.runlog import Progress
from metalegnet.train.trainer import build_model

LOG_COLUMNS = ("step", "meta_loss", "time_s")
#: Adam rate of log lambda_rel (ridge head)
HEAD_LAMBDA_LR = 0.05


def write_log(path: Path, rows: list[dict]) -> None:
    """``log.csv``: the meta-loss (eq. 25, normalised units) of every outer step."""
    lines = [",".join(LOG_COLUMNS)]
    lines += [",".join(str(r.get(c, "")) for c in LOG_COLUMNS) for r in rows]
    atomic_write_text(path, "\n".join(lines) + "\n")


def read_sources(data: str) -> list:
    """Structures of one source or of several joined by ``,``."""
    return [a for src in data.split(",") if src.strip() for a in read_structures(src.strip())]


@dataclass
class MetaData:
    source: list[Task]
    target: list[Task]
    normalization: Normalization
    leak_keys: tuple[str, ...] = ()


def prepare_tasks(config: MetaTrainConfig, structures: Sequence | None = None) -> MetaData:
    """Read, validate and label the data, group it into tasks, split off the targets (leak
    check) and fit the normalisation on the source structures."""
    tc = config.train_config
    structures = list(read_sources(config.data) if structures is None else structures)
    samples, _ = labelled_samples(structures, tc)
    tasks = build_tasks(samples, config.group_by, min_size=config.min_task_size)
    source, target = split_source_target(tasks, parse_where(config.targets))
    if not source:
        raise DataError(f"no source task has >= {config.min_task_size} structures "
                        f"(--group-by {','.join(config.group_by)})", source=config.data)
    keys = check_no_leak(source, target) if target else ()
    norm = fit_normalization([s for t in source for s in t.samples], tc)
    return MetaData(source, target, norm, keys)


def meta_metadata(config: MetaTrainConfig, norm: Normalization, step: int,
                  seconds: float, num_tasks: int, small_support: dict | None = None,
                  head_lambda: float | None = None, k1_noise_rmse: float | None = None
                  ) -> dict:
    tc = config.train_config
    return {"task": tc.task, "energy_target": tc.energy_target,
            "energy_label": tc.energy_label, "energy_key": tc.energy_key,
            "energy": tc.energy_description, "units": {"energy": "eV", "forces": "eV/Å"},
            "loss_scales": norm.loss_dict(), "train_config": to_dict(tc),
            "meta": {**to_dict(config.maml), "group_by": list(config.group_by),
                     "meta_steps": step, "meta_batch": config.meta_batch,
                     "support": config.support, "query": config.query,
                     "num_source_tasks": num_tasks, "train_time_s": round(seconds, 2),
                     "adapt_step_grid": list(config.adapt_step_grid),
                     "small_support": small_support, "inner": config.inner,
                     "k1_noise_rmse": k1_noise_rmse,
                     **({"head_lambda": head_lambda} if head_lambda is not None else {})}}


class MetaTrainer:
    """Model, Adam over theta (and the Meta-SGD rates), task draws and run state."""

    def __init__(self, config: MetaTrainConfig, out_dir: str | Path, resume: bool = False,
                 structures: Sequence | None = None, log: Callable[[str], None] = print,
                 stop_after_steps: int | None = None) -> None:
        self.config, self.out, self.log = config, Path(out_dir), log
        self.stop_after_steps = stop_after_steps
        if config.num_threads:
            torch.set_num_threads(config.num_threads)
        if not resume and any((self.out / n).exists() for n in ("last.pt", "checkpoint.pt")):
            raise ConfigError(f"{self.out} already holds a run; pass --resume to continue "
                              "it or choose another --out")
        if self.out.exists():
            remove_orphan_tmp(self.out)
        self.data = prepare_tasks(config, structures)
        self.out.mkdir(parents=True, exist_ok=True)
        save_meta_config(config, self.out / "config.yaml")
        atomic_write_text(self.out / "tasks.json", json.dumps({
            "group_by": list(config.group_by), "leak_check_keys": list(self.data.leak_keys),
            "source": {t.name: len(t) for t in self.data.source},
            "target": {t.name: len(t) for t in self.data.target}}, indent=1))
        tc = config.train_config
        #: the init's error on unseen tasks, kept for the shrunk k = 1 policy of ``adapt``
        self.k1_noise_rmse: float | None = None
        if config.init:
            self.model, init_payload = load_checkpoint(config.init)
            self.k1_noise_rmse = held_out_rmse(init_payload.get("metadata") or {})
        else:
            self.model = build_model(tc)
            self.data.normalization.apply(self.model)
        exact_higher_derivatives(self.model)
        self.model.train()
        norm = self.data.normalization
        self.objective = Objective(tc.energy_label, tc.uses_forces, norm.loss_scales,
                                   tc.energy_loss, tc.force_loss, tc.force_atoms)
        self.head = config.inner == "ridge-head"
        self.lrs = (init_inner_lrs(self.model, config.inner_lr)
                    if config.meta_sgd and not self.head else None)
        # ridge head: log lambda_rel, learned beside theta
        self.log_lambda = (torch.tensor(float(np.log(config.head_lambda)), dtype=torch.float64,
                                        requires_grad=True) if self.head else None)
        groups = [{"params": list(self.model.parameters()) + list((self.lrs or {}).values())}]
        if self.log_lambda is not None:  # one scalar on a log scale: a faster rate
            groups.append({"params": [self.log_lambda], "lr": HEAD_LAMBDA_LR})
        self.optimizer = torch.optim.Adam(groups, lr=config.outer_lr)
        self.dtype = next(self.model.parameters()).dtype
        self._graphs: dict[tuple[int, int], AtomicGraph] = {}
        self.state = {"step": 0, "elapsed_s": 0.0, "history": []}
        if resume and (self.out / "last.pt").exists():
            self._load_last()

    @property
    def head_lambda(self) -> float | None:
        """The learned lambda_rel of the ridge head (``None`` for MAML)."""
        return None if self.log_lambda is None else float(torch.exp(self.log_lambda.detach()))

    def _graph(self, t: int, idx: Sequence[int]) -> AtomicGraph:
        task = self.data.source[t]
        for i in idx:
            if (t, i) not in self._graphs:
                s = task.samples[i]
                self._graphs[(t, i)] = atoms_to_graph(s.atoms, self.model.cutoff, s.labels,
                                                      self.dtype)
        return collate([self._graphs[(t, i)] for i in idx])

    def draw(self, step: int) -> list[tuple[AtomicGraph, AtomicGraph]]:
        """The (support, query) graphs of outer step ``step`` (seeded by (seed, step))."""
        c = self.config
        rng = np.random.default_rng([c.seed, step])
        n_tasks = len(self.data.source)
        chosen = rng.choice(n_tasks, size=c.meta_batch, replace=c.meta_batch > n_tasks)
        batch = []
        for t in chosen:
            n = len(self.data.source[t])
            k = min(c.support, n - 1)
            if self.head:  # every support size the closed form will meet, k = 1 included
                k = int(rng.integers(1, k + 1))
            q = min(c.query, n - k)
            order = rng.permutation(n)
            batch.append((self._graph(int(t), order[:k]), self._graph(int(t), order[k:k + q])))
        return batch

    def _save(self, name: str, **extra) -> None:
        m = meta_metadata(self.config, self.data.normalization, self.state["step"],
                          self.state["elapsed_s"], len(self.data.source),
                          self.state.get("small_support"), self.head_lambda,
                          self.k1_noise_rmse)
        if self.log_lambda is not None:
            extra["head_log_lambda"] = self.log_lambda.detach().clone()
        if self.lrs is not None:
            extra["inner_lrs"] = {n: v.detach().cpu() for n, v in self.lrs.items()}
        save_checkpoint(self.out / name, self.model, self.config.model, m, **extra)

    def _save_last(self) -> None:
        self._save("last.pt", optimizer=self.optimizer.state_dict(), state=dict(self.state))
        write_log(self.out / "log.csv", self.state["history"])

    def _load_last(self) -> None:
        payload = read_checkpoint(self.out / "last.pt")
        self.model.load_state_dict(payload["state_dict"])
        if self.lrs is not None and payload.get("inner_lrs"):
            with torch.no_grad():
                for n, v in payload["inner_lrs"].items():
                    self.lrs[n].copy_(v)
        if self.log_lambda is not None and "head_log_lambda" in payload:
            with torch.no_grad():
                self.log_lambda.copy_(payload["head_log_lambda"])
        self.optimizer.load_state_dict(payload["optimizer"])
        self.state.update(payload["state"])
        self.log(f"resuming {self.out} at meta-step {self.state['step']} of "
                 f"{self.config.meta_steps}")

    def fit(self) -> dict:
        """Outer steps until ``meta_steps``; writes ``checkpoint.pt`` and returns a summary."""
        c, s = self.config, self.state
        progress = Progress(c.progress, c.meta_steps)
        progress.start_epoch(0, 1, c.meta_steps, s["step"])
        t0 = time.time()
        while s["step"] < c.meta_steps:
            batch = self.draw(s["step"])
            if self.head:
                loss = head_meta_loss(self.model, batch, self.objective, self.log_lambda,
                                      c.zero_shot_weight)
            else:
                loss = meta_loss(self.model, batch, self.objective, c.maml, self.lrs)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if c.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), c.grad_clip)
            self.optimizer.step()
            s["step"] += 1
            s["history"].append({"step": s["step"], "meta_loss": float(loss.detach()),
                                 "time_s": round(s["elapsed_s"] + time.time() - t0, 3)})
            progress.step(s["step"], {"meta_loss": float(loss.detach())})
            if self.stop_after_steps and s["step"] >= self.stop_after_steps:
                progress.end_epoch()
                raise KeyboardInterrupt(f"stopped after {s['step']} meta-steps")
            if s["step"] % c.checkpoint_every == 0 or s["step"] == c.meta_steps:
                s["elapsed_s"] += time.time() - t0
                t0 = time.time()
                self._save_last()
        progress.end_epoch()
        if c.small_support_draws and "small_support" not in s and self.head:
            s["small_support"] = small_support_head_policy(
                self.model, self.data.source, self.objective.energy_label,
                c.small_support_draws, seed=c.seed)
        elif c.small_support_draws and "small_support" not in s:
            s["small_support"] = small_support_policy(
                self.model, self.data.source, self.objective,
                self.lrs if self.lrs is not None else c.inner_lr, c.adapt_step_grid,
                c.task_shift, c.small_support_draws, seed=c.seed)
        s["elapsed_s"] += time.time() - t0
        self._save_last()
        self._save("checkpoint.pt")
        losses = [h["meta_loss"] for h in s["history"]]
        tail = max(1, len(losses) // 10)
        summary = {"meta_steps": s["step"], "train_time_s": round(s["elapsed_s"], 2),
                   "meta_loss_first": float(np.mean(losses[:tail])) if losses else None,
                   "meta_loss_last": float(np.mean(losses[-tail:])) if losses else None,
                   "source_tasks": len(self.data.source),
                   "target_tasks": len(self.data.target)}
        atomic_write_text(self.out / "metrics.json", json.dumps(summary, indent=1))
        self.log(f"meta-loss {summary['meta_loss_first']:.4g} -> "
                 f"{summary['meta_loss_last']:.4g} over {s['step']} meta-steps "
                 f"({len(self.data.source)} source tasks); wrote {self.out}/checkpoint.pt")
        return summary


def meta_train(config: MetaTrainConfig, out_dir: str | Path, resume: bool = False,
               structures: Sequence | None = None, log: Callable[[str], None] = print,
               stop_after_steps: int | None = None) -> dict:
    """Run one meta-training (module docstring); returns the ``metrics.json`` summary."""
    return MetaTrainer(config, out_dir, resume, structures, log, stop_after_steps).fit()
