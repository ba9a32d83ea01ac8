"""Real-data table: LegNet variants vs trivial references on the embedded DFT sets.

Rows (every split by trajectory or system, never by frame; test MAE, mean ± std over seeds):

* oc20-mini S2EF: total energy (eV) and forces (eV/Å), split by sid (trajectory).
* oc20-mini IS2RE: initial frame -> relaxed (last-frame) total energy (eV), split by sid.
* c3-cu111 S2E on ``eads_real`` (adsorption energy, eV) and S2F (eV/Å), split by chemical
  formula (all configurations of one intermediate together).
* xu-kitchin S2E on ``e_ads`` (adsorption energy vs. atoms, eV), holding out whole
  (metal, adsorbate) pairs.
* pdn-ceria S2E on ``e_ads`` (eV), split by cluster size n_Pd.

Columns: ``legnet-vanilla``, ``legnet-coarsen``, ``legnet`` (full), the training-set mean and
the per-element linear fit (both fitted on the training split of the same seed). The seed
sets the split *and* the initialisation, so the spread includes split variance.

    python benchmarks/real_data.py --budget small          # the committed table (~35 min, 2 cores)
    python benchmarks/real_data.py --budget tiny --rows pdn-s2e --seeds 0   # a smoke check

Writes ``benchmarks/results/real_data.md`` and ``real_data.json`` (per-seed numbers).
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np

VARIANTS = ("legnet-vanilla", "legnet-coarsen", "legnet")


@dataclass
class Row:
    """One data set / task; ``epochs`` and ``frame_stride`` are for the ``small`` budget."""

    key: str
    label: str
    data: str
    task: str
    group_by: list[str]
    epochs: int
    energy_target: str = "total"
    energy_key: str | None = None
    frame_stride: int = 1
    batch_size: int = 8
    drop_unlabelled: bool = False
    extra: dict = field(default_factory=dict)


ROWS = [
    Row("oc20-s2ef", "oc20-mini S2EF", "oc20-mini", "s2ef", ["sid"], epochs=6,
        frame_stride=12),
    Row("oc20-is2re", "oc20-mini IS2RE", "oc20-mini", "is2re", ["sid"], epochs=60,
        batch_size=4),
    Row("c3-s2e", "c3-cu111 S2E (eads_real)", "c3-cu111", "s2e", ["formula"], epochs=12,
        energy_target="adsorption", energy_key="eads_real"),
    Row("c3-s2f", "c3-cu111 S2F", "c3-cu111", "s2f", ["formula"], epochs=8),
    Row("xu-s2e", "xu-kitchin S2E (e_ads)", "xu-kitchin", "s2e", ["metal", "adsorbate"],
        epochs=10, energy_target="adsorption", energy_key="e_ads", batch_size=16,
        drop_unlabelled=True),
    Row("pdn-s2e", "pdn-ceria S2E (e_ads)", "pdn-ceria", "s2e", ["n_pd"], epochs=30,
        energy_target="adsorption", energy_key="e_ads", batch_size=4),
]

#: model size and epoch scale per budget
BUDGETS = {
    "tiny": {"model": {"num_features": 16, "num_blocks": 1, "num_post_blocks": 1,
                       "voxel_sizes": [5.0]}, "epoch_scale": 0.15, "stride_scale": 4},
    "small": {"model": {"num_features": 32, "num_blocks": 2, "num_post_blocks": 1,
                        "voxel_sizes": [5.0, 10.0]}, "epoch_scale": 1.0, "stride_scale": 1},
    "medium": {"model": {"num_features": 64, "num_blocks": 3, "num_post_blocks": 1,
                         "voxel_sizes": [5.0, 10.0]}, "epoch_scale": 3.0, "stride_scale": 1},
}


def run_config(row: Row, variant: str, seed: int, budget: str) -> dict:
    b = BUDGETS[budget]
    return dict(data=row.data, task=row.task, energy_target=row.energy_target,
                energy_key=row.energy_key, group_by=list(row.group_by), seed=seed,
                split_seed=seed, frame_stride=row.frame_stride * b["stride_scale"],
                drop_unlabelled=row.drop_unlabelled, model=variant,
                model_config=dict(b["model"]), cutoff=5.0,
                epochs=max(1, round(row.epochs * b["epoch_scale"])),
                batch_size=row.batch_size, lr=5e-3, patience=0, device="cpu",
                num_threads=1, progress=False, checkpoint_every=0,
                checkpoint_interval_s=1e9, **row.extra)


def _one(job: tuple) -> dict:
    """Train one (row, variant, seed); runs in a worker process."""
    row_key, variant, seed, budget, runs_dir = job
    import torch

    from metalegnet.data import read_structures
    from metalegnet.train.config import config_from_dict
    from metalegnet.train.trainer import train

    torch.set_num_threads(1)
    row = next(r for r in ROWS if r.key == row_key)
    cfg = config_from_dict(run_config(row, variant, seed, budget))
    out = Path(runs_dir) / row_key / variant / f"seed{seed}"
    if out.exists():
        shutil.rmtree(out)
    t0 = time.time()
    m = train(cfg, out, structures=read_structures(row.data), log=lambda *_: None)
    return {"row": row_key, "variant": variant, "seed": seed, "test": m["test"],
            "baselines": m["baselines_test"], "num_samples": m["num_samples"],
            "epochs": m["epochs_run"], "seconds": round(time.time() - t0, 1)}


def _cell(values: list[float], digits: int) -> str:
    if not values:
        return "-"
    a = np.asarray(values, dtype=np.float64)
    std = float(a.std(ddof=1)) if a.size > 1 else 0.0
    return f"{a.mean():.{digits}f} ± {std:.{digits}f}"


def metric_rows(row: Row) -> list[tuple[str, str, str, int]]:
    """(table label, metric key, unit, digits) for a data-set row."""
    energy = {"total": "total energy", "adsorption": "adsorption energy"}[row.energy_target]
    if row.task == "is2re":
        energy = "relaxed " + energy
    out = []
    if row.task != "s2f":
        out.append((f"{row.label}: {energy} MAE", "energy_mae", "eV", 3))
    if row.task in ("s2f", "s2ef"):
        out.append((f"{row.label}: force MAE", "force_mae", "eV/Å", 4))
    return out


def table(results: list[dict], rows: list[Row]) -> list[str]:
    lines = ["| task: metric | unit | n test (seed 0) | " + " | ".join(VARIANTS)
             + " | training-set mean | per-element linear fit |",
             "|---|---|---|" + "---|" * (len(VARIANTS) + 2)]
    for row in rows:
        mine = [r for r in results if r["row"] == row.key]
        if not mine:
            continue
        first = min(mine, key=lambda r: (r["seed"], r["variant"]))
        for label, key, unit, digits in metric_rows(row):
            cells = [_cell([r["test"][key] for r in mine if r["variant"] == v
                            and key in r["test"]], digits) for v in VARIANTS]
            ref = {r["seed"]: r["baselines"] for r in mine}
            for name in ("train_mean", "element_linear"):
                cells.append(_cell([b[name][key] for b in ref.values()
                                    if key in b.get(name, {})], digits))
            lines.append(f"| {label} | {unit} | {first['num_samples']['test']} | "
                         + " | ".join(cells) + " |")
    return lines


def write_report(results: list[dict], rows: list[Row], args, seconds: float) -> Path:
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    b = BUDGETS[args.budget]
    cmd = "python benchmarks/real_data.py " + " ".join(sys.argv[1:])
    lines = [
        f"# Real-data results ({date.today().isoformat()}, {platform.machine()} CPU, "
        f"budget `{args.budget}`)",
        "",
        f"Command: `{cmd}` (total {seconds / 60:.1f} min, {args.jobs} job(s), 1 thread each)",
        "",
        f"Test-set MAE, mean ± sample std over seeds {args.seeds} (the seed sets the split and "
        f"the initialisation). Model: LegNet with {b['model']['num_features']} features, "
        f"{b['model']['num_blocks']} blocks, voxel sizes {b['model']['voxel_sizes']} Å, "
        "cutoff 5 Å, direct force head, cell voxel frame, AdamW lr 5e-3 with warm-up + cosine, "
        "EMA 0.99, best epoch on validation. Energies in eV, forces in eV/Å (mean over "
        "Cartesian components of free atoms). The two references are fitted on the same "
        "training split: the mean of the training targets (mean force component for S2F) "
        "and a per-element least-squares fit on composition (no force counterpart).",
        "",
        "Splits: oc20-mini by trajectory (sid, 31 trajectories, 80/10/10 % of trajectories); "
        "c3-cu111 by chemical formula (36 intermediates); xu-kitchin by (metal, adsorbate) "
        "pair (56 pairs, flagged structures without e_ads dropped); pdn-ceria by cluster "
        "size n_Pd (20 sizes). Frames per trajectory used for oc20 S2EF: every "
        f"{ROWS[0].frame_stride * b['stride_scale']}th.",
        "",
    ]
    lines += table(results, rows)
    lines += ["", "Per run (epochs, seconds): see `real_data.json`.", ""]
    out.write_text("\n".join(lines))
    out.with_suffix(".json").write_text(json.dumps(results, indent=1) + "\n")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--budget", choices=tuple(BUDGETS), default="small",
                   help="model size and epochs (small: ~35 min on 2 cores with --jobs 2)")
    p.add_argument("--rows", nargs="*", default=[r.key for r in ROWS],
                   choices=[r.key for r in ROWS])
    p.add_argument("--variants", nargs="*", default=list(VARIANTS), choices=VARIANTS)
    p.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    p.add_argument("--jobs", type=int, default=2, help="parallel runs (1 thread each)")
    p.add_argument("--out", default=str(Path(__file__).parent / "results" / "real_data.md"))
    p.add_argument("--runs-dir", default=None, help="keep run folders here (default: temp)")
    args = p.parse_args(argv)
    rows = [r for r in ROWS if r.key in args.rows]
    runs_dir = args.runs_dir or tempfile.mkdtemp(prefix="real_data_runs_")
    jobs = [(r.key, v, s, args.budget, runs_dir) for r in rows for s in args.seeds
            for v in args.variants]
    t0 = time.time()
    results = []
    if args.jobs > 1:
        with ProcessPoolExecutor(max_workers=args.jobs) as pool:
            for res in pool.map(_one, jobs):
                results.append(res)
                _progress(res, len(results), len(jobs), t0)
    else:
        for job in jobs:
            results.append(_one(job))
            _progress(results[-1], len(results), len(jobs), t0)
    path = write_report(results, rows, args, time.time() - t0)
    if args.runs_dir is None:
        shutil.rmtree(runs_dir, ignore_errors=True)
    print(path.read_text())
    print(f"wrote {path} and {path.with_suffix('.json')}")
    return 0


def _progress(res: dict, done: int, total: int, t0: float) -> None:
    t = res["test"]
    msg = ", ".join(f"{k}={t[k]:.4f}" for k in ("energy_mae", "force_mae") if k in t)
    print(f"[{done}/{total} {time.time() - t0:.0f}s] {res['row']} {res['variant']} seed "
          f"{res['seed']}: {msg} ({res['epochs']} epochs, {res['seconds']} s)", flush=True)


if __name__ == "__main__":
    sys.exit(main())
