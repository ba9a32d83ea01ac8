"""Parity plots of the benchmark: predicted vs reference values of one row, one panel per model.

Energies in eV (per structure), forces in eV/Å (Cartesian components of the scored atoms).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from metalegnet.errors import ConfigError


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # pragma: no cover - matplotlib is in the dev/plot extras
        raise ConfigError("parity plots need matplotlib: pip install 'metalegnet[plot]'") \
            from None
    return plt


def parity_png(path: str | Path, title: str, true: Sequence[float],
               panels: Sequence[tuple[str, Sequence[float]]], quantity: str, unit: str
               ) -> Path:
    """Write a PNG with one parity panel per ``(model name, predictions)``; the panel title
    gives the model's MAE (``unit``) over the ``len(true)`` points."""
    plt = _pyplot()
    x = np.asarray(true, dtype=np.float64)
    fig, axes = plt.subplots(1, len(panels), figsize=(4.4 * len(panels), 4.4), squeeze=False)
    preds = [np.asarray(p, dtype=np.float64) for _, p in panels]
    lo = float(min(x.min(), *(p.min() for p in preds)))
    hi = float(max(x.max(), *(p.max() for p in preds)))
    pad = 0.03 * (hi - lo or 1.0)
    for ax, (name, _), y in zip(axes[0], panels, preds):
        ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color="0.5", lw=1, zorder=0)
        ax.scatter(x, y, s=6 if x.size > 500 else 14, alpha=0.5, edgecolors="none")
        ax.set_xlabel(f"reference {quantity} ({unit})")
        ax.set_ylabel(f"predicted ({unit})")
        ax.set_title(f"{name}: MAE {np.mean(np.abs(y - x)):.4g} {unit}, n={x.size}")
        ax.set_xlim(lo - pad, hi + pad)
        ax.set_ylim(lo - pad, hi + pad)
        ax.set_aspect("equal")
    fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path)
    return path
