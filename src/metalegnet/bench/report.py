"""``results.md``, ``results.json`` and parity plots of ``metalegnet bench accuracy``.

The accuracy table has one line per row (task x data set); each cell is the test MAE, mean ±
sample std over seeds, in the row's unit (eV, or eV/Å for forces); the lowest mean of a line is
bold (references included: a bold reference means no model beat it). "LegNet vs best baseline"
is the ratio MAE(LegNet) / MAE(best library baseline on that line): below 1 LegNet is better.
The cost table gives training throughput (structures/s, forward + loss + backward) and
inference throughput (structures/s) per model, measured in the same run on the same machine.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from metalegnet.bench.plots import curves_png, parity_png
from metalegnet.bench.published import published_for
from metalegnet.bench.results import Cell, RowResult, results_json
from metalegnet.bench.suites import LEGNET, REFERENCE_LABELS
from metalegnet.config import atomic_write_text

NOT_AVAILABLE = "n/a"


def digits_for(unit: str) -> int:
    """Decimals of an MAE: 3 for eV, 4 for eV/Å (forces are ~10x smaller)."""
    return 4 if unit == "eV/Å" else 3


def format_cell(mean: float | None, std: float | None, digits: int) -> str:
    """``"0.123 ± 0.004"``; ``n/a`` without a value."""
    if mean is None:
        return NOT_AVAILABLE
    return f"{mean:.{digits}f} ± {(std or 0.0):.{digits}f}"


def format_ratio(ratio: tuple[float, str] | None) -> str:
    """``"0.85 (schnet)"``: MAE(LegNet) / MAE(best baseline) and which baseline."""
    if ratio is None:
        return NOT_AVAILABLE
    return f"{ratio[0]:.2f} ({ratio[1]})"


def column_label(name: str) -> str:
    return REFERENCE_LABELS.get(name, name)


def accuracy_table(rows: list[RowResult], columns: list[str], why: bool = False
                   ) -> list[str]:
    """Markdown lines of the accuracy table (best mean per line in bold); ``why``: add the
    column saying why a row does not rank models."""
    head = ["task", "data set", "split", "target", "unit", "n test"]
    head += [column_label(c) for c in columns] + ["LegNet vs best baseline"]
    head += ["why not ranking"] if why else []
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        row = r.row
        start = [row.task.upper(), row.dataset + (f" ({row.variant})" if row.variant else ""),
                 row.split_label, row.label, row.unit, str(r.num_samples.get("test", "-"))]
        tail = [row.why_not_ranking or "-"] if why else []
        if r.status != "ok":
            cells = [r.status] + ["-"] * len(columns)
            lines.append("| " + " | ".join(start + cells + tail) + " |")
            continue
        best = r.best()
        best_mean = r.cells[best].mean if best else None
        cells = []
        for c in columns:
            cell = r.cells.get(c)
            text = format_cell(cell.mean if cell else None, cell.std if cell else None,
                               digits_for(row.unit))
            if cell is not None and cell.mean is not None and best_mean is not None \
                    and np.isclose(cell.mean, best_mean, rtol=0, atol=1e-12):
                text = f"**{text}**"
            cells.append(text)
        cells.append(format_ratio(r.legnet_vs_best_baseline()))
        lines.append("| " + " | ".join(start + cells + tail) + " |")
    return lines


def _per_model_table(rows: list[RowResult], models: list[str],
                     cell: Callable[[Cell], str | None], extra: str = "",
                     extra_cell: Callable[[RowResult], str] | None = None) -> list[str]:
    """A row x model table: ``cell(Cell)`` per model (``None``: n/a), after an optional
    ``extra`` column filled by ``extra_cell(row)``; rows not generated are left out."""
    head = ["row"] + ([extra] if extra else []) + models
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        if r.status != "ok":
            continue
        values = [r.row.key] + ([extra_cell(r)] if extra and extra_cell else [])
        for m in models:
            c = r.cells.get(m)
            v = None if c is None else cell(c)
            values.append(NOT_AVAILABLE if v is None else v)
        lines.append("| " + " | ".join(values) + " |")
    return lines


def epochs_table(rows: list[RowResult], models: list[str]) -> list[str]:
    """Per row and model: epochs run and the best-on-validation epoch, means over seeds
    (a run that stops well before the maximum has converged on validation)."""
    return _per_model_table(
        rows, models, lambda c: f"{np.mean(c.epochs):.0f} ({np.mean(c.best_epochs):.0f})"
        if c.epochs else None, "max epochs / patience",
        lambda r: f"{r.row.epochs} / {r.row.patience or 'off'}")


def spread_table(rows: list[RowResult], models: list[str]) -> list[str]:
    """Per row and model: std(predictions) / std(DFT) on the seed-0 test set. A model near
    0 predicts about a constant (its reference), whatever its MAE; a row where every model
    is near 0 cannot tell the models apart."""
    return _per_model_table(rows, models,
                            lambda c: None if c.spread is None else f"{c.spread:.2f}")


def published_table(rows: list[RowResult]) -> list[str]:
    """The published numbers on the same data, beside LegNet's, with the protocols."""
    lines = []
    for r in rows:
        legnet = r.cells.get(LEGNET)
        ours = format_cell(legnet.mean, legnet.std, 3) if legnet and legnet.mean is not None \
            else NOT_AVAILABLE
        for p in published_for(r.row.key):
            lines.append(f"| {r.row.key} | {p.model} | {p.value:.2f} ({p.metric}) | {ours} "
                         f"(MAE) | {p.protocol} | {p.source} |")
    if not lines:
        return []
    return ["| row | published model | published | LegNet (this table) | protocol | source |",
            "|---|---|---|---|---|---|"] + lines


def _rate(values: list[float]) -> str:
    if not values:
        return NOT_AVAILABLE
    med = float(np.median(values))
    if len(values) == 1:
        return f"{med:.1f}"
    return f"{med:.1f} ({min(values):.1f}-{max(values):.1f})"


def cost_table(rows: list[RowResult], models: list[str]) -> list[str]:
    """Per model: weights, training and inference structures/s (median and range over
    rows)."""
    lines = ["| model | weights | training structures/s (fwd+bwd) | inference structures/s |",
             "|---|---|---|---|"]
    for name in models:
        cells = [r.cells[name] for r in rows if name in r.cells]
        train = [c.train_sps for c in cells if c.train_sps]
        infer = [c.infer_sps for c in cells if c.infer_sps]
        params = sorted({c.params for c in cells if c.params})
        weights = NOT_AVAILABLE if not params else (
            f"{params[0]:,}" if len(params) == 1 else f"{params[0]:,}-{params[-1]:,}")
        lines.append(f"| {name} | {weights} | {_rate(train)} | {_rate(infer)} |")
    return lines


def budget_table(rows: list[RowResult]) -> list[str]:
    """Per row: split key, epochs, batch size, frame stride and split sizes (seed 0)."""
    lines = ["| row | split | groups | max epochs | patience | batch | frame stride | "
             "structure stride | train / val / test | data |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        row, n = r.row, r.num_samples
        sizes = " / ".join(str(n.get(p, "-")) for p in ("train", "val", "test")) if n else "-"
        lines.append(f"| {row.key} | {row.split_label} | {', '.join(row.group_by)} | "
                     f"{row.epochs} | {row.patience or 'off'} | {row.batch_size} | "
                     f"{row.frame_stride} | {row.structure_stride} | {sizes} | {r.note} |")
    return lines


def notes(rows: list[RowResult]) -> list[str]:
    """One line per cell that has no value, or only some seeds, and why (models that cannot
    run here at all are explained once, in the header)."""
    out = []
    for r in rows:
        for name, cell in r.cells.items():
            if cell.error and cell.runnable and cell.kind != "reference":
                out.append(f"- {r.row.key} {name}: {cell.error}")
    return out


def write_report(out: str | Path, rows: list[RowResult], header: dict[str, Any],
                 columns: list[str], models: list[str], intro: list[str]) -> Path:
    """Write ``results.json``, ``results.md`` and ``plots/<row>.png``; return the folder."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    plots = write_plots(out / "plots", rows)
    atomic_write_text(out / "results.json", json.dumps(results_json(rows, header),
                                                       indent=1) + "\n")
    ranking = [r for r in rows if r.row.ranking]
    apart = [r for r in rows if not r.row.ranking]
    lines = list(intro) + ["", "## Test MAE: ranking rows", ""] + accuracy_table(ranking,
                                                                                 columns)
    if apart:
        lines += ["", "## Test MAE: rows reported apart (they do not rank models)", ""]
        lines += accuracy_table(apart, columns, why=True)
    pub = published_table(rows)
    if pub:
        lines += ["", "## Published numbers on the same data (not re-run here; protocols "
                  "differ as stated)", ""] + pub
    lines += ["", "## Epochs run (best-on-validation epoch), mean over seeds", ""]
    lines += epochs_table(rows, models)
    lines += ["", "## Spread of the predictions: std(predicted) / std(DFT), seed 0 test set",
              "", "Near 0: the model predicts about a constant, i.e. its reference, and its MAE "
              "is the reference's; about 1: as spread as the DFT values. Rows where every "
              "model is near 0 do not rank models at this budget.", ""]
    lines += spread_table(rows, models)
    extra = notes(rows)
    if extra:
        lines += ["", "Cells without a value (or with fewer seeds), and why:", ""] + extra
    lines += ["", "## Cost (same machine, same run)", "",
              "Median over rows (range in brackets), seed 0, 1 torch thread per run; graphs "
              "are built before timing.", ""] + cost_table(rows, models)
    lines += ["", "## Budget per row (the same for every model)", ""] + budget_table(rows)
    if plots:
        lines += ["", "## Parity plots (seed 0 test set: LegNet and the best baseline) and "
                  "learning curves (seed 0, every model)", ""]
        for key, (parity, curve) in plots.items():
            links = [f"[parity]({'plots/' + parity.name})" if parity else None,
                     f"[learning curves]({'plots/' + curve.name})" if curve else None]
            lines.append(f"- {key}: " + ", ".join(x for x in links if x))
    atomic_write_text(out / "results.md", "\n".join(lines) + "\n")
    return out


def write_plots(folder: Path, rows: list[RowResult]
                ) -> dict[str, tuple[Path | None, Path | None]]:
    """Per row: a parity PNG of LegNet and the best baseline (seed-0 test predictions) and
    a learning-curve PNG of every model (seed 0)."""
    made = {}
    for r in rows:
        if r.status != "ok":
            continue
        stem = r.row.key.replace(":", "_")
        title = f"{r.row.task.upper()} {r.row.dataset}" + (f" ({r.row.variant})"
                                                            if r.row.variant else "")
        parity = None
        panels = []
        for name in (LEGNET, r.best(("baseline",))):
            if name and r.true and name in r.preds and len(r.preds[name]) == len(r.true):
                panels.append((name, r.preds[name]))
        if panels:
            parity = parity_png(folder / f"{stem}.png", title, r.true, panels, r.row.label,
                                r.row.unit)
        curve = None
        if r.curves:
            curve = curves_png(folder / f"{stem}_curves.png", title, r.curves, r.row.unit)
        if parity or curve:
            made[r.row.key] = (parity, curve)
    return made
