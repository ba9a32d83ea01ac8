"""Oracle throughput of the data generator: trajectories and frames per core-hour.

Each oracle relaxes the same plan (fcc metal/alloy slabs of 32-64 atoms from the EMT metals,
random AdsorbML placements, BFGS to fmax 0.05 eV/Å, step cap 200) through the real generator
(``metalegnet.data.generate.generate``) with one worker process, i.e. one core. Core-seconds
are the workers' own timings (clean-slab relaxation + every adslab relaxation + labelling +
writing), so model loading and process start-up are excluded; the wall time including them is
reported too. Run::

    .venv/bin/python benchmarks/oracle_throughput.py [--oracles emt,sevennet,chgnet]
        [--n-emt 60] [--n-ml 8] [--ml-pools atomic,polyatomic]
        [--out benchmarks/results/oracle_throughput.md]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

from metalegnet.bench.accuracy import cpu_name
from metalegnet.data.generate.oracles import oracle_available
from metalegnet.data.generate.plan import PlanConfig
from metalegnet.data.generate.presets import PresetConfig
from metalegnet.data.generate.runner import GenerateConfig, generate

EMT_FCC = ("Ni", "Cu", "Pd", "Ag", "Pt", "Au")
FCC_GROUPS = ("fcc-pure", "fcc-L12", "fcc-L10", "fcc-random")
POOLS = {"atomic": ("H", "O", "N", "C"), "polyatomic": ("OH", "CO", "CH3", "NH2")}


def measure(oracle: str, pool: str, n: int, workers: int, seed: int = 11) -> dict:
    """Generate ``n`` trajectories with ``oracle``; return the timing summary."""
    plan = PlanConfig(preset="alloy-surface", n=n, seed=seed, adsorbates=POOLS[pool],
                      adsorbates_per_system=1, placements_per_adsorbate=4,
                      preset_config=PresetConfig(metals=EMT_FCC, groups=FCC_GROUPS))
    with tempfile.TemporaryDirectory() as tmp:
        cfg = GenerateConfig(out=tmp, oracle=oracle, plan=plan, workers=workers)
        t0 = time.perf_counter()
        report = generate(cfg, progress=False)
        wall = time.perf_counter() - t0
        records = [json.loads(line) for line in
                   (Path(tmp) / "records.jsonl").read_text().splitlines()]
    ok = [r for r in records if "error" not in r]
    core_s = sum(r["seconds"] + r.get("slab_seconds", 0.0) for r in ok)
    frames = sum(r["nframes"] for r in ok)
    return {"oracle": oracle, "pool": pool, "workers": workers, "n": len(ok),
            "frames": frames, "atoms": sum(r["natoms"] for r in ok) / max(len(ok), 1),
            "core_s": core_s, "wall_s": wall,
            "traj_per_core_h": 3600 * len(ok) / core_s, "frames_per_core_h": 3600 * frames / core_s,
            "anomalous": sum(bool(r["anomalies"]) for r in ok),
            "unconverged": sum(not r["converged"] for r in ok), "failed": report.failed}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--oracles", default="emt,sevennet,chgnet")
    parser.add_argument("--n-emt", type=int, default=60)
    parser.add_argument("--n-ml", type=int, default=8)
    parser.add_argument("--ml-pools", default="atomic,polyatomic",
                        help="adsorbate pools measured for the ML oracles")
    parser.add_argument("--out", default="benchmarks/results/oracle_throughput.md")
    args = parser.parse_args(argv)
    rows = []
    for oracle in args.oracles.split(","):
        if not oracle_available(oracle):
            print(f"{oracle}: not installed, skipped")
            continue
        n = args.n_emt if oracle == "emt" else args.n_ml
        pools = list(POOLS) if oracle == "emt" else args.ml_pools.split(",")
        runs = [(pool, 1) for pool in pools] + ([("atomic", 2)] if oracle == "emt" else [])
        for pool, workers in runs:
            row = measure(oracle, pool, n, workers)
            rows.append(row)
            print(json.dumps({k: round(v, 2) if isinstance(v, float) else v
                              for k, v in row.items()}), flush=True)
    lines = [
        "# Oracle throughput of `metalegnet data generate`", "",
        f"Machine: {cpu_name()}, {os.cpu_count()} cores (shared with other jobs, so numbers "
        f"are a lower bound), Python {platform.python_version()}, torch CPU threads 1 per "
        "worker.",
        f"Command: `.venv/bin/python benchmarks/oracle_throughput.py --oracles {args.oracles} "
        f"--n-emt {args.n_emt} --n-ml {args.n_ml} --ml-pools {args.ml_pools}`", "",
        "Plan: alloy-surface preset restricted to fcc slabs of Ni/Cu/Pd/Ag/Pt/Au (pure, L1_2, "
        "L1_0, random; (111)/(100)/(211); 32-64 atoms), 4 random placements per system, BFGS "
        "fmax 0.05 eV/Å, step cap 200. `atomic` = H/O/N/C, `polyatomic` = OH/CO/CH3/NH2 (EMT "
        "dissociates these, so its polyatomic row measures dissociation paths). Core-seconds "
        "= the workers' own time (clean slab + adslab relaxations + labels + writing); wall "
        "includes process start and model loading.", "",
        "| oracle | adsorbates | workers | trajectories | frames | mean atoms | core-s | "
        "wall-s | trajectories / core-hour | frames / core-hour | anomalous | unconverged |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['oracle']} | {r['pool']} | {r['workers']} | {r['n']} | {r['frames']} | "
            f"{r['atoms']:.0f} | {r['core_s']:.1f} | {r['wall_s']:.1f} | "
            f"{r['traj_per_core_h']:,.0f} | {r['frames_per_core_h']:,.0f} | {r['anomalous']} | "
            f"{r['unconverged']} |")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
