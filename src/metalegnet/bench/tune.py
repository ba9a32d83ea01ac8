"""``metalegnet bench accuracy --tune``: choose each model's learning rate on validation.

Same search budget for every model: each model trains once per learning rate of the suite's
grid (``Suite.lr_grid``, or ``--lr-grid``) on one row (``Suite.tune_row``), seed 0, with that
row's epochs; the learning rate with the lowest *validation* MAE wins (the test split is never
looked at). The winners and every validation MAE are written to
``metalegnet/bench/configs/bench_<suite>.yaml``.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from metalegnet.bench.accuracy import check_models, execute, train_config
from metalegnet.bench.datasets import resolve
from metalegnet.bench.jobs import Job, JobResult
from metalegnet.bench.suites import ModelSpec, Suite
from metalegnet.errors import ConfigError


def choose(results: Sequence[JobResult], grid: Sequence[float]) -> tuple[float | None, dict]:
    """(learning rate with the lowest validation MAE or None, {lr: val MAE or error})."""
    scores: dict[str, Any] = {}
    best: tuple[float, float] | None = None
    for lr in grid:
        res = next((r for r in results if r.tag == repr(lr)), None)
        if res is None or res.error or res.val_mae is None:
            scores[repr(lr)] = res.error if res and res.error else "no result"
            continue
        scores[repr(lr)] = res.val_mae
        if best is None or res.val_mae < best[0]:
            best = (res.val_mae, lr)
    return (best[1] if best else None), scores


def tune(suite: Suite, generated: str | Path, workers: int = 1,
         grid: Sequence[float] | None = None, row_key: str | None = None,
         make_missing: bool = True, log: Callable[[str], None] = print
         ) -> tuple[Suite, dict[str, Any]]:
    """Tune every available model's learning rate; returns the tuned suite and the record
    for the hyperparameter file."""
    grid = tuple(grid or suite.lr_grid)
    row = suite.row(row_key or suite.tune_row)
    src = resolve(row.dataset, generated, make_missing, workers, log)
    if not src.available:
        raise ConfigError(f"cannot tune on {row.key}: {src.note}")
    unavailable = check_models(suite)
    runs = Path(tempfile.mkdtemp(prefix="bench_tune_"))
    try:
        jobs = [Job(row.key, m.name, 0, row.metric,
                    train_config(suite, row, dataclasses.replace(m, lr=lr), 0, src.source),
                    str(runs / m.name / repr(lr)), tag=repr(lr))
                for m in suite.models if m.name not in unavailable for lr in grid]
        log(f"tuning: {len(jobs)} runs ({len(grid)} learning rates per model) on {row.key}, "
            f"seed 0, {row.epochs} epochs, scored on validation")
        results = execute(jobs, workers, log, split="val")
    finally:
        shutil.rmtree(runs, ignore_errors=True)
    models, record = [], {}
    for m in suite.models:
        if m.name in unavailable:
            models.append(m)
            record[m.name] = {"not run": unavailable[m.name]}
            continue
        lr, scores = choose([r for r in results if r.model == m.name], grid)
        models.append(ModelSpec(m.name, lr if lr is not None else m.lr, m.model_config))
        record[m.name] = {"chosen_lr": lr, "val_mae": scores}
    tuning = {"method": "learning-rate grid, lowest validation MAE (same grid and epochs "
                        "for every model; test split unused)",
              "row": row.key, "seed": 0, "epochs": row.epochs, "grid": list(grid),
              "unit": row.unit, "results": record}
    return dataclasses.replace(suite, models=tuple(models)), tuning
