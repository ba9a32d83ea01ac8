"""Parity plots of the benchmark: predicted vs reference values of one row, one panel per model.

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
