"""Plots of the benchmark: parity plots (predicted vs reference values of one row, one panel
per model) and learning curves (training and validation MAE per epoch, every model).

Energies in eV (per structure), forces in eV/Å (Cartesian components of the scored atoms).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from metalegnet.plotting import parity_panel, pyplot, save_png


def parity_png(path: str | Path, title: str, true: Sequence[float],
               panels: Sequence[tuple[str, Sequence[float]]], quantity: str, unit: str
               ) -> Path:
    """Write a PNG with one parity panel per ``(model name, predictions)``; the panel title
    gives the model's MAE (``unit``) over the ``len(true)`` points."""
    plt = pyplot()
    x = np.asarray(true, dtype=np.float64)
    fig, axes = plt.subplots(1, len(panels), figsize=(4.4 * len(panels), 4.4), squeeze=False)
    preds = [np.asarray(p, dtype=np.float64) for _, p in panels]
    lo = float(min(x.min(), *(p.min() for p in preds)))
    hi = float(max(x.max(), *(p.max() for p in preds)))
    for ax, (name, _), y in zip(axes[0], panels, preds):
        parity_panel(ax, x, y, f"reference {quantity} ({unit})", f"predicted ({unit})",
                     f"{name}: MAE {np.mean(np.abs(y - x)):.4g} {unit}, n={x.size}", (lo, hi))
    fig.suptitle(title)
    fig.tight_layout()
    return save_png(fig, path, dpi=110)


def curves_png(path: str | Path, title: str, curves: dict[str, Sequence[Sequence[float]]],
               unit: str) -> Path:
    """Write a PNG of validation MAE (solid) and training MAE (dashed, the running average
    over each epoch) against epoch, one colour per model; log-scale MAE axis."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for k, (name, rows) in enumerate(curves.items()):
        arr = np.asarray(rows, dtype=np.float64).reshape(-1, 3)
        if not len(arr):
            continue
        color = f"C{k % 10}"
        ax.plot(arr[:, 0], arr[:, 2], "-", color=color, label=f"{name} (val)")
        ax.plot(arr[:, 0], arr[:, 1], "--", color=color, alpha=0.5)
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"MAE ({unit}); dashed: training")
    ax.set_title(title)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return save_png(fig, path, dpi=110)
