"""``metalegnet explain CKPT --data SRC -o DIR``: explain a trained model's predictions.

DIR receives ``explained.extxyz`` (per-atom ``importance``, ``contribution`` and
``environment`` arrays that ``ase gui`` colours by), ``structures/NNN.png`` (top and side
view per structure), the summary figures (``fig7a_overlap.png`` ... ``fig8_masking.png``,
``stability.png``), ``records.json`` (per structure), ``summary.json`` and ``report.html``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from metalegnet.errors import ConfigError, DataError
from metalegnet.explain.analysis import ExplainConfig, analyse


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "explain", help="per-atom importances, learned adsorption environments, their "
        "validation and an HTML report",
        description="Explain a checkpoint's predictions on SRC: importances w_i (eq. 31), "
        "Otsu environments (eq. 32), overlap with cutoff / kNN references, masking "
        "faithfulness and stability; writes extxyz, PNGs, summary.json and report.html.")
    p.add_argument("checkpoint", help="checkpoint.pt written by 'metalegnet train'")
    p.add_argument("--data", required=True, help="data source (file, folder, glob, name)")
    p.add_argument("-o", "--out", required=True, help="output folder")
    p.add_argument("--split", default="auto", choices=("auto", "train", "val", "test", "all"),
                   help="part of the run's splits.json (auto: test when the run's "
                   "splits.json is beside the checkpoint and matches the data, else all)")
    p.add_argument("--limit", type=int, default=60,
                   help="explain at most this many structures, evenly spread (default 60)")
    p.add_argument("--reference-cutoff", type=float, default=ExplainConfig.reference_cutoff,
                   help="radius of the distance-cutoff reference in Å (default %(default)s)")
    p.add_argument("--random-draws", type=int, default=ExplainConfig.random_draws)
    p.add_argument("--stability-draws", type=int, default=ExplainConfig.stability_draws,
                   help="draws per transform (0: skip the stability runs)")
    p.add_argument("--stability-structures", type=int,
                   default=ExplainConfig.stability_structures)
    p.add_argument("--seed-checkpoints", nargs="*", default=[], metavar="CKPT",
                   help="independently trained checkpoints for the seed stability")
    p.add_argument("--otsu-scope", choices=("all", "catalyst"), default="all",
                   help="weights that set the Otsu threshold: all atoms (eq. 32, default) "
                   "or the catalyst atoms only (the adsorbate is always included)")
    p.add_argument("--pictures", type=int, default=None,
                   help="PNG pictures for the first N structures (default: all)")
    p.add_argument("--report-structures", type=int, default=8,
                   help="structures with a 3-D view in report.html (default 8)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--num-threads", type=int, default=1)
    p.set_defaults(func=run_explain)


def _spread(n: int, limit: int | None) -> np.ndarray:
    if limit is None or limit <= 0 or n <= limit:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, limit).round().astype(int))


def select_structures(checkpoint: Path, data: str, split: str, limit: int | None,
                      structures=None):
    """``(model, structures, labels, meta)`` for an explanation run: the run's labels (its
    energy target, eV) from its training config, the split part if asked."""
    from metalegnet.checkpoint import load_checkpoint
    from metalegnet.data.io import read_structures
    from metalegnet.data.splits import apply_split, load_split
    from metalegnet.train.config import config_from_dict, replace
    from metalegnet.train.data import fill_formula, make_samples
    from metalegnet.train.evaluate import _check_split_data

    model, payload = load_checkpoint(checkpoint, map_location="cpu")
    meta = payload.get("metadata", {})
    structures = list(structures) if structures is not None else read_structures(data)
    if not structures:
        raise DataError(f"{data}: no structures")
    train_config = meta.get("train_config")
    if train_config is None:  # a bare model checkpoint: no labels, no split
        if split not in ("auto", "all"):
            raise ConfigError(f"{checkpoint}: no training config stored, so no split; use "
                              "--split all")
        idx = _spread(len(structures), limit)
        return model, [structures[i] for i in idx], [None] * len(idx), {
            "energy": "energy (eV)", "split": "all"}
    config = replace(config_from_dict(train_config), data=str(data), frame_stride=1,
                     drop_unlabelled=True)
    if "formula" in config.group_by:
        fill_formula(structures)
    samples, _ = make_samples(structures, config)
    splits_path = checkpoint.parent / "splits.json"
    part = split
    if split == "auto":
        part = "all"
        if splits_path.exists():
            try:
                _check_split_data(load_split(splits_path), splits_path, structures,
                                  train_config, data)
                part = "test"
            except DataError:
                part = "all"
    label = config.energy_label
    value = {id(s.atoms): float(s.labels[label]) for s in samples
             if label and label in s.labels}
    if part != "all":
        saved = load_split(splits_path)
        _check_split_data(saved, splits_path, structures, train_config, data)
        chosen = [s.atoms for s in
                  apply_split(saved, [s.atoms for s in samples]).select(samples, part)]
        if not chosen:
            raise DataError(f"{data}: no labelled structures in split {part!r}")
    else:  # every structure; those without the run's label are explained without one
        chosen = structures
    idx = _spread(len(chosen), limit)
    chosen = [chosen[i] for i in idx]
    return model, chosen, [value.get(id(a)) for a in chosen], {
        "energy": config.energy_description + " (eV)", "split": part, "task": config.task}


def explained_atoms(structures, explanations) -> list:
    """Copies with per-atom ``importance``, ``contribution`` and ``environment`` arrays."""
    out = []
    for atoms, ex in zip(structures, explanations):
        a = atoms.copy()
        a.calc = None
        a.set_array("importance", np.asarray(ex.importance, dtype=np.float64))
        a.set_array("contribution", np.asarray(ex.contributions, dtype=np.float64))
        a.set_array("environment", ex.environment.mask.astype(np.int64))
        a.info["energy_pred"] = float(ex.energy)
        a.info["otsu_threshold"] = (float("nan") if ex.environment.degenerate
                                    else float(ex.environment.threshold))
        out.append(a)
    return out


def run_explain(args: argparse.Namespace) -> int:
    import torch

    from metalegnet.checkpoint import load_checkpoint
    from metalegnet.config import atomic_write_text
    from metalegnet.data.io import write_extxyz_atomic
    from metalegnet.explain.figures import write_figures
    from metalegnet.explain.pictures import save_attribution_png
    from metalegnet.explain.report import write_report

    torch.set_num_threads(max(1, args.num_threads))
    t0 = time.time()
    checkpoint = Path(args.checkpoint)
    model, structures, labels, meta = select_structures(checkpoint, args.data, args.split,
                                                        args.limit)
    seed_models = [load_checkpoint(p, map_location="cpu")[0] for p in args.seed_checkpoints]
    cfg = ExplainConfig(reference_cutoff=args.reference_cutoff, random_draws=args.random_draws,
                        stability_draws=args.stability_draws,
                        stability_structures=args.stability_structures, scope=args.otsu_scope,
                        seed=args.seed, batch_size=args.batch_size)
    exps, records, summary = analyse(model, structures, labels, cfg, seed_models)
    out = Path(args.out)
    (out / "structures").mkdir(parents=True, exist_ok=True)
    write_extxyz_atomic(out / "explained.extxyz", explained_atoms(structures, exps))
    n_pic = len(structures) if args.pictures is None else min(args.pictures, len(structures))
    for k in range(n_pic):
        r = records[k]
        label = "none" if r["label"] is None else f"{r['label']:.3f} eV"
        save_attribution_png(out / "structures" / f"{k:03d}.png", structures[k],
                             exps[k].environment, f"{r['sid']} ({r['formula']}): predicted "
                             f"{r['energy_pred']:.3f} eV, label {label}",
                             relative=args.otsu_scope == "catalyst")
    title = f"{checkpoint} on {args.data}"
    figures = write_figures(records, summary["stability"], out, title=str(args.data))
    summary.update({"checkpoint": str(checkpoint), "data": str(args.data),
                    "split": meta["split"], "energy": meta["energy"],
                    "seed_checkpoints": list(args.seed_checkpoints),
                    "time_s": round(time.time() - t0, 1)})
    atomic_write_text(out / "records.json", json.dumps(records, indent=1) + "\n")
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=1) + "\n")
    k = min(args.report_structures, len(structures))
    write_report(out / "report.html", f"Explanation: {title}", summary, structures[:k],
                 exps[:k], records[:k], figures, notes=f"{len(structures)} structures "
                 f"({meta['split']} split), target {meta['energy']}.",
                 relative=args.otsu_scope == "catalyst")
    m = summary["masking"]
    print(f"overlap IoU: cutoff {summary['overlap']['cutoff']['iou']}, knn "
          f"{summary['overlap']['knn']['iou']}; masking |dE| (eV): "
          + ", ".join(f"{n} {(m.get(n) or {}).get('abs_dE')}" for n in
                      ("learned", "random", "distant")))
    print(f"wrote {out / 'summary.json'}, {out / 'report.html'}, {out / 'explained.extxyz'}, "
          f"{n_pic} pictures in {out / 'structures'} ({time.time() - t0:.0f} s)")
    return 0
