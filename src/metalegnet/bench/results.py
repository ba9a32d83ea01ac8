"""Per-seed job results gathered into table cells, and ``results.json``.

``results.json`` (what scripts read)::

    {"rows": [{"task": "s2e", "dataset": "oc20-mini", "unit": "eV",
               "models": {"legnet": {"mae_mean": ..., "mae_std": ..., ...}, ...}}, ...],
     "suite": ..., "command": ..., "machine": ..., "date": ..., "seeds": [...], ...}

Each entry of ``models`` is one table column: LegNet, the baselines, the trivial references
(``train_mean``, ``element_linear``) and the ablations; ``kind`` says which. ``mae_mean`` is
the mean test MAE over seeds and ``mae_std`` the sample standard deviation (0 with one seed),
in the row's ``unit`` (eV, or eV/Å for forces); both are ``null`` when the cell has no value,
and ``error`` then says why. Rows whose data are missing have ``status: "not generated"`` and
no models.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from metalegnet.bench.jobs import JobResult
from metalegnet.bench.published import published_for
from metalegnet.bench.suites import ABLATIONS, LEGNET, REFERENCES, BenchRow, Suite
from metalegnet.train.metrics import prediction_spread


@dataclass
class Cell:
    """One model (or reference) on one row: per-seed test MAEs and the cost (seed 0).

    ``train_sps``/``infer_sps`` are structures/s; ``error`` says why values are missing;
    ``runnable`` is False for a model that cannot be built here (the header says why);
    ``spread`` is std(predictions) / std(targets) on the test set of the run with stored
    predictions (seed 0): near 0, the model predicts about a constant, its reference."""

    kind: str
    values: list[float] = field(default_factory=list)
    params: int | None = None
    train_sps: float | None = None
    infer_sps: float | None = None
    error: str | None = None
    runnable: bool = True
    epochs: list[int] = field(default_factory=list)
    best_epochs: list[int] = field(default_factory=list)
    spread: float | None = None

    @property
    def mean(self) -> float | None:
        return float(np.mean(self.values)) if self.values else None

    @property
    def std(self) -> float | None:
        """Sample standard deviation over seeds (ddof=1; 0 for one seed)."""
        if not self.values:
            return None
        return float(np.std(self.values, ddof=1)) if len(self.values) > 1 else 0.0

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "mae_mean": self.mean, "mae_std": self.std,
                               "mae_seeds": list(self.values)}
        if self.kind != "reference":
            out.update(params=self.params, train_structures_per_s=self.train_sps,
                       infer_structures_per_s=self.infer_sps, epochs_run=list(self.epochs),
                       best_epoch=list(self.best_epochs), prediction_spread=self.spread)
        if self.error:
            out["error"] = self.error
        return out


@dataclass
class RowResult:
    """A row of the table: ``cells`` in column order, or ``status`` ``not generated``."""

    row: BenchRow
    status: str
    note: str
    cells: dict[str, Cell] = field(default_factory=dict)
    num_samples: dict[str, int] = field(default_factory=dict)
    true: list[float] = field(default_factory=list)
    preds: dict[str, list[float]] = field(default_factory=dict)
    curves: dict[str, list[list[float]]] = field(default_factory=dict)

    def best(self, kinds: tuple[str, ...] | None = None) -> str | None:
        """Column with the lowest mean MAE (among ``kinds``), ``None`` if none has one."""
        scored = [(c.mean, name) for name, c in self.cells.items()
                  if c.mean is not None and (kinds is None or c.kind in kinds)]
        return min(scored)[1] if scored else None

    def legnet_vs_best_baseline(self) -> tuple[float, str] | None:
        """(MAE(legnet) / MAE(best baseline), that baseline); < 1: LegNet is better."""
        base = self.best(("baseline",))
        mine = self.cells.get(LEGNET)
        if base is None or mine is None or mine.mean is None:
            return None
        other = self.cells[base].mean
        return (mine.mean / other if other > 0 else math.inf), base

    def to_json(self) -> dict[str, Any]:
        r = self.row
        ratio = self.legnet_vs_best_baseline()
        return {"task": r.task, "dataset": r.dataset, "unit": r.unit, "key": r.key,
                "target": r.label, "status": self.status, "note": self.note,
                "ranking": r.ranking, "why_not_ranking": r.why_not_ranking or None,
                "split": r.split_label, "max_epochs": r.epochs, "patience": r.patience,
                "batch_size": r.batch_size, "frame_stride": r.frame_stride,
                "structure_stride": r.structure_stride, "group_by": list(r.group_by),
                "published": [dataclasses.asdict(p) for p in published_for(r.key)],
                "num_samples": self.num_samples,
                "models": {k: c.to_json() for k, c in self.cells.items()},
                "legnet_vs_best_baseline": None if ratio is None else
                {"ratio": ratio[0], "baseline": ratio[1]}}


def column_order(suite: Suite) -> list[tuple[str, str]]:
    """(column, kind): LegNet, the baselines, the trivial references, the ablations."""
    names = [m.name for m in suite.models]
    cols = [(LEGNET, "legnet")] if LEGNET in names else []
    cols += [(n, "baseline") for n in names if n != LEGNET and n not in ABLATIONS]
    cols += [(r, "reference") for r in REFERENCES]
    cols += [(n, "ablation") for n in ABLATIONS if n in names]
    return cols


def gather(suite: Suite, row: BenchRow, results: list[JobResult],
           unavailable: dict[str, str]) -> RowResult:
    """The :class:`RowResult` of ``row`` from its jobs' results (any order)."""
    mine = sorted((r for r in results if r.row == row.key), key=lambda r: (r.seed, r.model))
    out = RowResult(row, "ok", "")
    for name, kind in column_order(suite):
        cell = Cell(kind)
        if kind == "reference":
            by_seed = {r.seed: r.references for r in mine if r.error is None}
            cell.values = [refs[name] for _, refs in sorted(by_seed.items()) if name in refs]
            if not cell.values:
                cell.error = "no prediction for this quantity"
        elif name in unavailable:
            cell.error, cell.runnable = unavailable[name], False
        else:
            runs = [r for r in mine if r.model == name]
            ok = [r for r in runs if r.error is None and r.test_mae is not None]
            cell.values = [r.test_mae for r in ok]
            cell.epochs = [r.epochs for r in ok]
            cell.best_epochs = [r.best_epoch for r in ok]
            if ok and ok[0].curve:
                out.curves[name] = ok[0].curve
            errors = sorted({r.error for r in runs if r.error})
            cell.error = "; ".join(errors) or None
            detail = [r for r in ok if r.train_sps is not None]
            if ok:
                cell.params = ok[0].params
            if detail:
                d = detail[0]
                cell.train_sps, cell.infer_sps = d.train_sps, d.infer_sps
                out.preds[name] = d.pred
                out.true = out.true or d.true
                cell.spread = prediction_spread(d.true, d.pred)
        out.cells[name] = cell
    first = [r for r in mine if r.error is None and r.num_samples]
    if first:
        out.num_samples = dict(first[0].num_samples)
    return out


def results_json(rows: list[RowResult], header: dict[str, Any]) -> dict[str, Any]:
    """The ``results.json`` document: ``header`` fields, then ``rows``."""
    return {**header, "rows": [r.to_json() for r in rows]}
