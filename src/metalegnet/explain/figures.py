"""The summary figures of an explanation run (paper Figs. 7, 8, S2, S3), from per-structure
records (see :mod:`metalegnet.explain.analysis`).

* ``fig7a_overlap.png``: mean precision, recall and IoU against the cutoff and kNN references;
* ``fig7b_histograms.png`` (Fig. S2): sample-wise IoU and recall histograms;
* ``fig7c_sizes.png``: learned environment sizes (catalyst atoms);
* ``fig7d_size_dependence.png`` (Fig. S3): IoU and recall against environment size;
* ``fig8_masking.png``: |ΔE| and Δ|error| (eV) for learned / random / distant masks;
* ``stability.png``: mean IoU under rotations, translations, permutations and seeds.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from metalegnet.plotting import pyplot, save_png

REFS = ("cutoff", "knn")
METRICS = ("precision", "recall", "iou")
COLORS = {"cutoff": "#4c72b0", "knn": "#dd8452", "learned": "#c44e52", "random": "#8172b3",
          "distant": "#55a868"}


def _col(records: list[dict], *keys) -> np.ndarray:
    out = []
    for r in records:
        v = r
        for k in keys:
            v = v.get(k) if isinstance(v, dict) else None
        out.append(np.nan if v is None else float(v))
    return np.asarray(out, dtype=np.float64)


def _mean_sem(v: np.ndarray) -> tuple[float, float]:
    v = v[np.isfinite(v)]
    if not v.size:
        return np.nan, 0.0
    return float(v.mean()), float(v.std(ddof=1) / np.sqrt(v.size)) if v.size > 1 else 0.0


def fig7a(records, title):
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    x = np.arange(len(METRICS))
    for k, ref in enumerate(REFS):
        ms = [_mean_sem(_col(records, "overlap", ref, m)) for m in METRICS]
        ax.bar(x + (k - 0.5) * 0.38, [m for m, _ in ms], 0.36, yerr=[s for _, s in ms],
               label=ref, color=COLORS[ref], capsize=3)
    ax.set_xticks(x, METRICS)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("mean over structures")
    ax.set_title(f"{title}\nlearned environment vs geometric references", fontsize=9)
    ax.legend(frameon=False)
    fig.tight_layout()
    return fig


def fig7b(records, title):
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.4))
    bins = np.linspace(0, 1, 11)
    for ax, m in zip(axes, ("iou", "recall")):
        for ref in REFS:
            v = _col(records, "overlap", ref, m)
            ax.hist(v[np.isfinite(v)], bins=bins, alpha=0.55, label=ref, color=COLORS[ref])
        ax.set_xlabel(m)
        ax.set_ylabel("structures")
        ax.legend(frameon=False)
    fig.suptitle(f"{title}: sample-wise overlap (Fig. 7b / S2)", fontsize=9)
    fig.tight_layout()
    return fig


def fig7c(records, title):
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.4))
    sizes = _col(records, "environment_catalyst_size")
    top = int(np.nanmax(sizes)) if sizes.size and np.isfinite(sizes).any() else 1
    ax.hist(sizes[np.isfinite(sizes)], bins=np.arange(-0.5, top + 1.5, 1), color="#64b5cd")
    ax.set_xlabel("catalyst atoms in the learned environment")
    ax.set_ylabel("structures")
    ax.set_title(f"{title}: environment sizes (Fig. 7c)", fontsize=9)
    fig.tight_layout()
    return fig


def fig7d(records, title):
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.4))
    sizes = _col(records, "environment_catalyst_size")
    for ax, m in zip(axes, ("iou", "recall")):
        for k, ref in enumerate(REFS):
            ax.scatter(sizes + (k - 0.5) * 0.15, _col(records, "overlap", ref, m), s=12,
                       alpha=0.6, label=ref, color=COLORS[ref], edgecolors="none")
        ax.set_xlabel("learned environment size (catalyst atoms)")
        ax.set_ylabel(m)
        ax.set_ylim(-0.05, 1.05)
        ax.legend(frameon=False)
    fig.suptitle(f"{title}: overlap against size (Fig. 7d / S3)", fontsize=9)
    fig.tight_layout()
    return fig


def fig8(records, title):
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.4))
    masks = ("learned", "random", "distant")
    for ax, key, label in zip(axes, ("abs_dE", "d_abs_error"), ("|ΔE| (eV)", "Δ|error| (eV)")):
        ms = [_mean_sem(_col(records, "masking", m, key)) for m in masks]
        ax.bar(masks, [m for m, _ in ms], yerr=[s for _, s in ms], capsize=3,
               color=[COLORS[m] for m in masks])
        ax.axhline(0, color="0.3", lw=0.8)
        ax.set_ylabel(label)
    n = int(np.isfinite(_col(records, "masking", "learned", "abs_dE")).sum())
    fig.suptitle(f"{title}: masking faithfulness, {n} structures (Fig. 8)", fontsize=9)
    fig.tight_layout()
    return fig


def stability_figure(stability: dict, title):
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.2))
    names = [k for k, v in stability.items() if isinstance(v, dict) and "mean_iou" in v]
    ax.bar(names, [stability[k]["mean_iou"] for k in names], color="#937860")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("mean IoU with the reference run")
    ax.set_title(f"{title}: environment stability", fontsize=9)
    fig.tight_layout()
    return fig


def write_figures(records: list[dict], stability: dict, out: str | os.PathLike,
                  title: str = "") -> dict[str, Path]:
    """Write every figure into ``out``; returns ``{name: path}``."""
    out = Path(out)
    figs = {"fig7a_overlap": fig7a(records, title), "fig7b_histograms": fig7b(records, title),
            "fig7c_sizes": fig7c(records, title),
            "fig7d_size_dependence": fig7d(records, title), "fig8_masking": fig8(records, title)}
    if stability:
        figs["stability"] = stability_figure(stability, title)
    return {name: save_png(fig, out / f"{name}.png", dpi=110) for name, fig in figs.items()}
