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
from pathlib import Path
from typing import Any

import numpy as np

from metalegnet.bench.plots import parity_png
from metalegnet.bench.results import RowResult, results_json
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


def accuracy_table(rows: list[RowResult], columns: list[str]) -> list[str]:
    """Markdown lines of the accuracy table (best mean per line in bold)."""
    head = ["task", "data set", "target", "unit", "n test"]
    head += [column_label(c) for c in columns] + ["LegNet vs best baseline"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        row = r.row
        start = [row.task.upper(), row.dataset, row.label, row.unit,
                 str(r.num_samples.get("test", "-"))]
        if r.status != "ok":
            cells = [r.status] + ["-"] * len(columns)
            lines.append("| " + " | ".join(start + cells) + " |")
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
        lines.append("| " + " | ".join(start + cells) + " |")
    return lines


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
    lines = ["| task | data set | split by | epochs | batch | frame stride | "
             "train / val / test | data |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        row, n = r.row, r.num_samples
        sizes = " / ".join(str(n.get(p, "-")) for p in ("train", "val", "test")) if n else "-"
        lines.append(f"| {row.task.upper()} | {row.dataset} | {', '.join(row.group_by)} | "
                     f"{row.epochs} | {row.batch_size} | {row.frame_stride} | {sizes} | "
                     f"{r.note} |")
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
    lines = list(intro) + ["", "## Test MAE", ""] + accuracy_table(rows, columns)
    extra = notes(rows)
    if extra:
        lines += ["", "Cells without a value (or with fewer seeds), and why:", ""] + extra
    lines += ["", "## Cost (same machine, same run)", "",
              "Median over rows (range in brackets), seed 0, 1 torch thread per run; graphs "
              "are built before timing.", ""] + cost_table(rows, models)
    lines += ["", "## Budget per row (the same for every model)", ""] + budget_table(rows)
    if plots:
        lines += ["", "## Parity plots (seed 0 test set: LegNet and the best baseline)", ""]
        lines += [f"- {key}: [{p.name}](plots/{p.name})" for key, p in plots.items()]
    atomic_write_text(out / "results.md", "\n".join(lines) + "\n")
    return out


def write_plots(folder: Path, rows: list[RowResult]) -> dict[str, Path]:
    """One PNG per row: LegNet and the best baseline (seed-0 test predictions)."""
    made = {}
    for r in rows:
        if r.status != "ok" or not r.true:
            continue
        panels = []
        for name in (LEGNET, r.best(("baseline",))):
            if name and name in r.preds and len(r.preds[name]) == len(r.true):
                panels.append((name, r.preds[name]))
        if not panels:
            continue
        name = r.row.key.replace(":", "_") + ".png"
        made[r.row.key] = parity_png(folder / name, f"{r.row.task.upper()} "
                                     f"{r.row.dataset}", r.true, panels, r.row.label,
                                     r.row.unit)
    return made
