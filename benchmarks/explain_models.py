"""Explanation benchmark: train small LegNets (full variant) and run ``metalegnet explain``
on each, with both Otsu scopes; results in ``benchmarks/results/explain_*``.

    OMP_NUM_THREADS=1 python benchmarks/explain_models.py --work /tmp/explain

Models (1 CPU thread each, wall-time capped; 32 features, 2 blocks, voxels 5 / 10 Å,
cutoff 5 Å, batch 8, lr 5e-3):

* ``bench3d_s{0,1,2}``: generated bench-3d (``metalegnet data generate --recipe bench-3d``),
  S2E adsorption energy ``e_ads``, every 8th frame, 170 s each, seeds 0-2 (seed stability);
* ``gamenet_s0``: gamenet-fg S2E adsorption energy ``e_ads`` (3,108 relaxed structures), 300 s;
* ``oc20_s0``: oc20-mini S2EF total energy + forces, every 4th frame, 300 s.

Resumable: a trained run (``checkpoint.pt`` + ``metrics.json``) or an explained output
(``summary.json``) is not redone. The small outputs (summary.json, records.json, figures,
two structure PNGs, report.html for one scope per model) are copied to
``benchmarks/results/explain/<model>_<scope>`` and a table to
``benchmarks/results/explain/summary.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "explain"
METALEGNET = [sys.executable, "-m", "metalegnet"]
MODEL_YAML = """model: legnet
model_config: {num_features: 32, num_blocks: 2, num_post_blocks: 1, voxel_sizes: [5.0, 10.0]}
patience: 0
"""
COMMON = ["--num-threads", "1", "--no-progress", "--cutoff", "5.0", "--batch-size", "8",
          "--lr", "0.005", "--epochs", "200"]
S2E_ADS = ["--task", "s2e", "--energy-target", "adsorption", "--energy-key", "e_ads"]


def runs(work: Path) -> dict[str, tuple[str, list[str]]]:
    b3 = str(work / "bench-3d")
    out = {f"bench3d_s{s}": (b3, [*S2E_ADS, "--frame-stride", "8", "--drop-unlabelled",
                                  "--max-time", "170", "--seed", str(s)]) for s in range(3)}
    out["gamenet_s0"] = ("gamenet-fg", [*S2E_ADS, "--max-time", "300", "--seed", "0"])
    out["oc20_s0"] = ("oc20-mini", ["--task", "s2ef", "--frame-stride", "4", "--max-time",
                                    "300", "--seed", "0"])
    return out


#: model -> independently trained checkpoints for the seed stability
SEEDS = {"bench3d_s0": ["bench3d_s1", "bench3d_s2"]}
EXPLAIN = {"bench3d_s0": "bench3d", "gamenet_s0": "gamenet", "oc20_s0": "oc20"}
#: outputs copied whole (figures, two structure PNGs); the others keep their JSON only
FULL_COPY = {"bench3d_all", "bench3d_catalyst", "gamenet_all", "gamenet_catalyst", "oc20_all"}
#: report.html (~0.8 MB each, 3Dmol.js inlined) kept for one run per model
REPORTS = {"bench3d_catalyst", "gamenet_catalyst", "oc20_all"}


def sh(cmd: list[str], log: Path) -> None:
    print("$", " ".join(cmd), flush=True)
    with open(log, "a") as fh:
        subprocess.run(cmd, check=True, stdout=fh, stderr=subprocess.STDOUT,
                       env=dict(os.environ, OMP_NUM_THREADS="1"))


def train(work: Path) -> None:
    (work / "runs").mkdir(parents=True, exist_ok=True)
    if not (work / "bench-3d" / "manifest.json").exists():
        sh([*METALEGNET, "data", "generate", "--recipe", "bench-3d", "--out",
            str(work / "bench-3d")], work / "generate.log")
    yaml = work / "model.yaml"
    yaml.write_text(MODEL_YAML)
    for name, (data, extra) in runs(work).items():
        out = work / "runs" / name
        if (out / "checkpoint.pt").exists() and (out / "metrics.json").exists():
            continue
        sh([*METALEGNET, "train", "--out", str(out), "--config", str(yaml), "--data", data,
            *COMMON, *extra], work / "runs" / f"{name}.log")


def explain(work: Path, limit: int) -> list[dict]:
    rows = []
    for model, short in EXPLAIN.items():
        data = runs(work)[model][0]
        for scope in ("all", "catalyst"):
            out = work / "explain" / f"{short}_{scope}"
            ckpt = work / "runs" / model / "checkpoint.pt"
            seeds = [str(work / "runs" / s / "checkpoint.pt") for s in SEEDS.get(model, [])]
            if not (out / "summary.json").exists():
                sh([*METALEGNET, "explain", str(ckpt), "--data", data, "-o", str(out),
                    "--limit", str(limit), "--otsu-scope", scope, "--pictures", "4",
                    "--report-structures", "6",
                    *(["--seed-checkpoints", *seeds] if seeds else [])],
                   work / "explain.log")
            dest = RESULTS / f"{short}_{scope}"
            dest.mkdir(parents=True, exist_ok=True)
            keep_all = dest.name in FULL_COPY
            for f in out.iterdir():
                if f.suffix == ".json" or (keep_all and f.suffix == ".png") or (
                        f.suffix == ".html" and dest.name in REPORTS):
                    shutil.copy(f, dest / f.name)
            if keep_all:
                (dest / "structures").mkdir(exist_ok=True)
                for f in sorted((out / "structures").glob("*.png"))[:2]:
                    shutil.copy(f, dest / "structures" / f.name)
            metrics = json.loads((work / "runs" / model / "metrics.json").read_text())
            rows.append({"model": model, "scope": scope, "dest": dest.name,
                         "test_mae": metrics.get("test", {}).get("energy_mae"),
                         "energy": metrics.get("energy"),
                         "summary": json.loads((out / "summary.json").read_text())})
    return rows


def _f(v, nd=3) -> str:
    return "–" if v is None else f"{v:.{nd}f}"


def table(rows: list[dict]) -> str:
    lines = ["| model (target, test MAE) | Otsu scope | env. size (catalyst) / atoms | "
             "adsorbate-only, adsorbate share of Σ|c| | P/R/IoU (chance IoU) cutoff 3 Å | "
             "P/R/IoU (chance) kNN | masking abs dE learned / "
             "random / distant (eV) | learned part of abs dE l / r / d (eV) | "
             "d abs error l / r / d (eV) | order | stability rot / "
             "trans / perm / seeds (IoU) |", "|" + "---|" * 11]
    for r in rows:
        s = r["summary"]
        env, ov, m, st = s["environment"], s["overlap"], s["masking"], s["stability"]
        prf = {k: "/".join(_f(ov[k][x], 2) for x in ("precision", "recall", "iou"))
               + f" ({_f(ov[k]['chance_iou'], 2)})" for k in ("cutoff", "knn")}
        de = " / ".join(_f((m.get(k) or {}).get("abs_dE")) for k in
                        ("learned", "random", "distant"))
        da = " / ".join(_f((m.get(k) or {}).get("d_abs_error")) for k in
                        ("learned", "random", "distant"))
        dl = " / ".join(_f((m.get(k) or {}).get("abs_dE_learned")) for k in
                        ("learned", "random", "distant"))
        stab = " / ".join(_f((st.get(k) or {}).get("mean_iou"), 2) for k in
                          ("rotation", "translation", "permutation", "seeds"))
        lines.append(
            f"| {r['model']} ({r['energy']}, {_f(r['test_mae'])} eV) | {r['scope']} | "
            f"{_f(env['mean_size'], 1)} ({_f(env['mean_catalyst_size'], 1)}) / "
            f"{_f(env['mean_num_atoms'], 1)} | {_f(env['adsorbate_only_fraction'], 2)}, "
            f"{_f(env.get('adsorbate_share'), 2)} | "
            f"{prf['cutoff']} (n={ov['num_structures']}) | {prf['knn']} | {de} "
            f"(n={m['num_structures']}) | {dl} | {da} | {m.get('ordering_abs_dE') or '–'} | "
            f"{stab} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--work", default="/tmp/explain", help="work folder (data, runs, outputs)")
    p.add_argument("--limit", type=int, default=60, help="structures explained per model")
    p.add_argument("--skip-train", action="store_true")
    args = p.parse_args()
    work = Path(args.work)
    if not args.skip_train:
        train(work)
    rows = explain(work, args.limit)
    text = ("# Explanations of small trained LegNets (`benchmarks/explain_models.py`)\n\n"
            f"Command: `OMP_NUM_THREADS=1 python benchmarks/explain_models.py --work "
            f"{args.work} --limit {args.limit}`. Means over the explained test structures "
            "(evenly spread, at most the limit); overlap over structures whose environment "
            "holds >= 1 catalyst atom, masking over 1 <= K < catalyst atoms.\n\n" + table(rows))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "summary.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
