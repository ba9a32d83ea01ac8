"""SEAM proposal time per system on CPU (goal: < 1 s), with and without the model's energy.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/seam_speed.py
        [--data xu-kitchin] [--repeats 3] [--features 64 --blocks 3]
        [--out benchmarks/results/seam_speed]

Template database: ``metalegnet envdb build`` on the embedded xu-kitchin set (DFT, fcc(111)
2x2 slabs of 7 metals, 8 adsorbates at fcc/hcp/bridge/top), every frame, quality scores off
(their cost is the build's, not SEAM's), with a LegNet of the default size and random weights
(timing does not depend on the weights). Systems: 3x3x4 slabs Pt(111), Pt(100), Pt(211),
random Cu27Pt9(111) and random Pd18Au18(211) (seeded); adsorbates O, C, H (same formula in the
database) and OH, CO (re-seated on templates of the same binding element). A proposal = one
:func:`metalegnet.seam.seam` call, top-k 5: surface atoms, motifs, prefiltered registrations,
placement, clash checks and (with the model) one batched prediction of the 10 best
candidates. The median of ``--repeats`` calls is reported, after one warm-up call.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from ase.build import fcc100, fcc111, fcc211

from metalegnet import LegNet, LegNetConfig
from metalegnet.bench.accuracy import cpu_name
from metalegnet.data.io import read_structures
from metalegnet.envdb import EnvdbConfig, QualityConfig, build_envdb, load_templates
from metalegnet.seam import SeamConfig, seam

ADSORBATES = ("O", "C", "H", "OH", "CO")


def tagged(slab):
    z = slab.positions[:, 2]
    slab.set_tags(np.where(z > z.max() - 0.5, 1, 0))
    slab.info.pop("adsorbate_info", None)
    return slab


def random_alloy(build, host, guest, n_guest, seed):
    slab = build(host, (3, 3, 4), vacuum=8.0)
    rng = np.random.default_rng(seed)
    sym = np.array(slab.get_chemical_symbols())
    sym[rng.choice(len(slab), n_guest, replace=False)] = guest
    slab.set_chemical_symbols(sym)
    return slab


def systems():
    pt211 = fcc211("Pt", (3, 3, 4), vacuum=8.0)
    pt211.set_tags(0)
    alloy211 = random_alloy(fcc211, "Pd", "Au", 18, 1)
    alloy211.set_tags(0)  # geometry finds the surface atoms (steps are not flat)
    return {"Pt(111)": tagged(fcc111("Pt", (3, 3, 4), vacuum=8.0)),
            "Pt(100)": tagged(fcc100("Pt", (3, 3, 4), vacuum=8.0)),
            "Pt(211)": pt211,
            "Cu27Pt9(111) random": tagged(random_alloy(fcc111, "Cu", "Pt", 9, 0)),
            "Pd18Au18(211) random": alloy211}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="xu-kitchin")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--features", type=int, default=64)
    ap.add_argument("--blocks", type=int, default=3)
    ap.add_argument("--out", default="benchmarks/results/seam_speed")
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = LegNet(LegNetConfig(num_features=args.features, num_blocks=args.blocks)).eval()
    model.normalization.set(scale=1.0, shift_atom=0.0, known_elements=list(range(1, 84)))
    structures = read_structures(args.data)
    with tempfile.TemporaryDirectory() as tmp:
        db = os.path.join(tmp, "env.db")
        t0 = time.perf_counter()
        report = build_envdb(model, structures, db, EnvdbConfig(
            frames="all", quality=QualityConfig(mode="none")))
        build_s = time.perf_counter() - t0
        templates = load_templates(db)
    rows = []
    for name, slab in systems().items():
        for ads in ADSORBATES:
            row = {"system": name, "atoms": len(slab), "adsorbate": ads}
            for label, m in (("no_model", None), ("model", model)):
                seam(slab, ads, templates, m, SeamConfig(top_k=5))  # warm-up
                times, result = [], None
                for _ in range(args.repeats):
                    t = time.perf_counter()
                    result = seam(slab, ads, templates, m, SeamConfig(top_k=5))
                    times.append(time.perf_counter() - t)
                row[f"{label}_s"] = round(statistics.median(times), 4)
            row.update(motifs=result.n_motifs, registrations=result.n_registrations,
                       clashes=result.n_clashes, proposals=len(result.proposals),
                       top_site=result.proposals[0].motif.site_type if result.proposals
                       else "-")
            rows.append(row)
            print(json.dumps(row), flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    meta = {"command": "OMP_NUM_THREADS=1 .venv/bin/python benchmarks/seam_speed.py "
                       f"--data {args.data} --repeats {args.repeats} --features "
                       f"{args.features} --blocks {args.blocks}",
            "cpu": cpu_name(), "threads": 1, "templates": len(templates),
            "envdb_structures": report.structures, "envdb_rows": report.rows,
            "envdb_merged": report.merged, "envdb_build_s": round(build_s, 1),
            "model": f"LegNet full, F={args.features}, {args.blocks} blocks, random weights"}
    (out / "results.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    lines = ["# SEAM proposal time per system (CPU, 1 thread)", "",
             f"Command: `{meta['command']}`  ", f"CPU: {meta['cpu']}; model: {meta['model']}.  ",
             f"Database: {meta['envdb_structures']} {args.data} structures -> "
             f"{meta['envdb_rows']} templates ({meta['envdb_merged']} merged duplicates), "
             f"built in {meta['envdb_build_s']} s.", "",
             "| system | atoms | adsorbate | motifs | registrations | clashes | "
             "proposal s (no model) | proposal s (model, 10 best scored) | top-1 site |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['system']} | {r['atoms']} | {r['adsorbate']} | {r['motifs']} | "
                     f"{r['registrations']} | {r['clashes']} | {r['no_model_s']:.3f} | "
                     f"{r['model_s']:.3f} | {r['top_site']} |")
    worst = max(r["model_s"] for r in rows)
    lines += ["", f"Slowest system with the model: {worst:.3f} s (goal < 1 s)."]
    (out / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
