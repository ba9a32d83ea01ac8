"""Shared matplotlib helpers: headless pyplot, one parity panel, atomic PNG writes."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np

from metalegnet.config import atomic_write_bytes
from metalegnet.errors import ConfigError


def pyplot():
    """``matplotlib.pyplot`` on the Agg backend (no display needed)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # pragma: no cover - matplotlib is in the dev/plot extras
        raise ConfigError("parity plots need matplotlib: pip install 'metalegnet[plot]'") \
            from None
    return plt


def parity_panel(ax, x, y, xlabel: str, ylabel: str, title: str,
                 limits: tuple[float, float] | None = None) -> None:
    """Scatter predicted ``y`` against reference ``x`` with the y = x line, equal axes."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if limits is None:
        limits = (float(min(x.min(), y.min())), float(max(x.max(), y.max())))
    lo, hi = limits
    pad = 0.03 * (hi - lo or 1.0)
    ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color="0.5", lw=1, zorder=0)
    ax.scatter(x, y, s=6 if x.size > 500 else 14, alpha=0.5, edgecolors="none")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.set_xlim(lo - pad, hi + pad)
    ax.set_ylim(lo - pad, hi + pad)
    ax.set_aspect("equal")


def save_png(fig, path: str | os.PathLike, dpi: int = 120) -> Path:
    """Save ``fig`` as PNG atomically and close it."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    pyplot().close(fig)
    return atomic_write_bytes(path, buffer.getvalue())
