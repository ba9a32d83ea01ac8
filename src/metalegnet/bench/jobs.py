"""One benchmark run: train one model on one row with one seed, in a worker process.

A job trains through :class:`metalegnet.train.trainer.Trainer` (the same trainer, splits and
normalisation as ``metalegnet train``), keeps the test MAE of the best-on-validation weights
and the trivial references of the same split, and, when ``detail`` is set (the first seed),
also the test-set predictions (for parity plots) and the model's cost:

* training throughput: structures/s of forward + loss + backward (no optimiser step) over
  ``cost_structures`` training structures in batches of the row's batch size, graphs built
  beforehand (so the neighbour search is not counted), after one warm-up batch;
* inference throughput: structures/s of the forward pass in eval mode (with forces, by
  autograd where the model's forces are conservative, when the task scores forces).

Errors (a baseline whose library is missing, a split too small, ...) come back as
``JobResult.error`` so one failed cell does not stop the table.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
import traceback
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch

from metalegnet.data.registry import copy_atoms
from metalegnet.errors import MetaLegNetError


@dataclass(frozen=True)
class Job:
    """What to run: ``config`` is a complete TrainConfig dict, ``out`` the run folder,
    ``metric`` the scored MAE key; ``tag`` is echoed in the result."""

    row: str
    model: str
    seed: int
    metric: str
    config: dict[str, Any]
    out: str
    detail: bool = False
    cost_structures: int = 32
    keep: bool = False
    tag: str = ""


@dataclass
class JobResult:
    """What a job measured. MAEs in the row's unit (eV or eV/Å), times in s.

    Attributes:
        test_mae, val_mae: MAE of the best-on-validation weights on test / validation.
        references: ``{"train_mean": mae, "element_linear": mae}`` on the same test split
            (a reference without a prediction for this metric is absent).
        train_sps, infer_sps: training / inference throughput (structures/s), ``detail`` only.
        true, pred: test-set targets and predictions (energies per structure or force
            components), ``detail`` only.
        epochs, best_epoch: epochs run (early stopping ends a run before the row's maximum)
            and the epoch of the best-on-validation weights that were scored.
        curve: learning curve, one ``[epoch, train MAE, validation MAE]`` per epoch (the
            scored metric; the training MAE is the running average over the epoch).
    """

    row: str
    model: str
    seed: int
    test_mae: float | None = None
    val_mae: float | None = None
    references: dict[str, float] = field(default_factory=dict)
    num_samples: dict[str, int] = field(default_factory=dict)
    epochs: int = 0
    params: int = 0
    seconds: float = 0.0
    train_sps: float | None = None
    infer_sps: float | None = None
    true: list[float] = field(default_factory=list)
    pred: list[float] = field(default_factory=list)
    error: str | None = None
    tag: str = ""
    best_epoch: int = 0
    curve: list[list[float]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> JobResult:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@lru_cache(maxsize=4)
def _read(source: str) -> tuple:
    from metalegnet.data import read_structures

    return tuple(read_structures(source))


def structures_of(source: str) -> list:
    """Structures of ``source``, read once per process (copies, so runs cannot interact)."""
    return [copy_atoms(a) for a in _read(source)]


def run_job(job: Job) -> JobResult:
    """Train and score one job on 1 torch thread (the caller's thread count is restored)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    out = Path(job.out)
    try:
        result = _run(job, out)
    except MetaLegNetError as exc:
        result = JobResult(job.row, job.model, job.seed, error=str(exc))
    except Exception as exc:  # a crashed cell is reported in the table, not fatal
        last = traceback.format_exception_only(type(exc), exc)[-1].strip()
        result = JobResult(job.row, job.model, job.seed, error=last)
    finally:
        torch.set_num_threads(threads)
        if not job.keep:
            shutil.rmtree(out, ignore_errors=True)
    result.seconds = round(time.perf_counter() - t0, 1)
    result.tag = job.tag
    return result


def _run(job: Job, out: Path) -> JobResult:
    from metalegnet.train.config import config_from_dict
    from metalegnet.train.evaluate import evaluate_model
    from metalegnet.train.trainer import Trainer

    cfg = config_from_dict(job.config)
    if out.exists():
        shutil.rmtree(out)
    trainer = Trainer(cfg, out, structures=structures_of(cfg.data), log=lambda *_: None)
    metrics = trainer.fit()
    refs = {k: v[job.metric] for k, v in metrics["baselines_test"].items() if job.metric in v}
    res = JobResult(job.row, job.model, job.seed, test_mae=metrics["test"].get(job.metric),
                    val_mae=metrics["val"].get(job.metric), references=refs,
                    num_samples=dict(metrics["num_samples"]), epochs=metrics["epochs_run"],
                    params=sum(p.numel() for p in trainer.model.parameters()),
                    best_epoch=metrics["best_epoch"],
                    curve=learning_curve(trainer.state["history"], job.metric))
    if job.detail:
        _, preds = evaluate_model(trainer.eval_model, trainer.test_set, trainer.objective,
                                  cfg.batch_size, trainer.device, collect=True)
        arr = preds.arrays()
        kind = "force" if job.metric == "force_mae" else "energy"
        res.true = arr[f"{kind}_true"].tolist()
        res.pred = arr[f"{kind}_pred"].tolist()
        res.train_sps, res.infer_sps = measure_cost(trainer, job.cost_structures)
    return res


def learning_curve(history: list[dict], metric: str) -> list[list[float]]:
    """``[epoch, train, val]`` of ``metric`` per epoch of a trainer's history (NaN where the
    value is missing)."""
    def num(x) -> float:
        try:
            return float(x)
        except (TypeError, ValueError):
            return float("nan")

    return [[int(h["epoch"]), num(h.get(f"train_{metric}")), num(h.get(f"val_{metric}"))]
            for h in history]


def measure_cost(trainer, n_structures: int) -> tuple[float, float]:
    """(training, inference) throughput of ``trainer.model`` in structures/s (see the module
    docstring); graphs of the first ``n_structures`` training structures."""
    from metalegnet.data.graph import collate
    from metalegnet.inference import forward

    model, objective, device = trainer.model, trainer.objective, trainer.device
    size = trainer.config.batch_size
    data = trainer.train_set
    n = min(n_structures, len(data))
    batches = [collate([data[i] for i in range(k, min(k + size, n))]).to(device)
               for k in range(0, n, size)]
    if not batches:
        return 0.0, 0.0
    forces_in_train = objective.use_forces or trainer.direct_head

    def train_pass(graphs) -> None:
        model.train()
        for g in graphs:
            model.zero_grad(set_to_none=True)
            out = model(g, compute_forces=forces_in_train)
            sums = objective(out.energy, out.forces, g)
            objective.loss(sums, sums.num_graphs, sums.num_atoms).backward()

    def infer_pass(graphs) -> None:
        model.eval()
        for g in graphs:
            forward(model, g, objective.use_forces)

    rates = []
    for fn in (train_pass, infer_pass):
        fn(batches[:1])  # warm-up (allocations, lazy initialisation)
        _sync(device)
        t = time.perf_counter()
        fn(batches)
        _sync(device)
        rates.append(n / max(time.perf_counter() - t, 1e-9))
    model.zero_grad(set_to_none=True)
    return rates[0], rates[1]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
