"""Measure symmetry errors of every LegNet variant and voxel frame (untrained, tiny models).

    python benchmarks/invariance.py [--out benchmarks/results/invariance.md]

For each (variant, frame, dtype) and the structures of ``metalegnet.testing.structures`` it
reports the worst relative error max|ΔX| / max(max|X|, 1) of energies (E) and forces (F) over:
rotations (positions and cell rotated together, 5 random rotations), in-plane translations that
carry atoms across the periodic boundary (5 random), wrapping atoms by lattice vectors, and atom
permutations. Direct force head; conservative forces behave the same way.
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
import torch

from metalegnet import LegNet, LegNetConfig
from metalegnet.testing.model_tests import predict, rel_err, structures
from metalegnet.testing.structures import rotated


def measure(model, dtype):
    res = {"rotation": [], "rotation_cluster": [], "translation": [], "wrap": [],
           "permutation": []}
    rng = np.random.default_rng(0)
    for atoms in structures().values():
        e0, f0 = predict(model, [atoms], dtype)
        for seed in range(5):
            rot, r = rotated(atoms, seed)
            e, f = predict(model, [rot], dtype)
            key = "rotation" if atoms.pbc.any() else "rotation_cluster"
            res[key].append((rel_err(e, e0), rel_err(f, f0 @ r.T)))
            moved = atoms.copy()
            if atoms.pbc.any():
                frac = rng.uniform(0, 1, 3) * atoms.pbc
                moved.positions += frac @ atoms.cell.array
            else:
                moved.positions += rng.normal(size=3) * 3
            e, f = predict(model, [moved], dtype)
            res["translation"].append((rel_err(e, e0), rel_err(f, f0)))
        if atoms.pbc.any():
            moved = atoms.copy()
            moved.positions += (rng.integers(-2, 3, (len(atoms), 3)) * atoms.pbc) @ atoms.cell.array
            e, f = predict(model, [moved], dtype)
            res["wrap"].append((rel_err(e, e0), rel_err(f, f0)))
        perm = rng.permutation(len(atoms))
        e, f = predict(model, [atoms[perm]], dtype)
        res["permutation"].append((rel_err(e, e0), rel_err(f, f0[perm])))
    return {k: np.max(v, axis=0) for k, v in res.items()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    lines = [f"# LegNet symmetry errors (untrained, F=32), {time.strftime('%Y-%m-%d')}, "
             f"{platform.processor() or platform.machine()} CPU",
             "", "Command: `python benchmarks/invariance.py "
             "--out benchmarks/results/invariance.md`",
             "", "Worst relative error (E / F) over a Pt(111)+OH slab with pbc TTF and TTT and a "
             "Cu13+CO cluster.", "",
             "| variant | frame | origin | dtype | rotation (slabs) E | F | rotation (cluster) E | "
             "F | translation (crossing the cell) E | F | wrap E | F | permutation E | F |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    cases = [("vanilla", "cell", "adsorbate")] + [
        (v, f, o) for v in ("coarsen", "full") for o in ("adsorbate", "min")
        for f in ("cell", "cartesian")]
    for variant, frame, origin in cases:
        if True:
            torch.manual_seed(0)
            cfg = LegNetConfig(variant=variant, voxel_frame=frame, num_features=32,
                               num_blocks=2, cutoff=5.0, voxel_sizes=(3.5, 7.0),
                               voxel_origin=origin)
            model = LegNet(cfg).eval()
            for dtype in (torch.float32, torch.float64):
                r = measure(model.to(dtype), dtype)
                cells = " | ".join(f"{r[k][0]:.1e} | {r[k][1]:.1e}" for k in
                                   ("rotation", "rotation_cluster", "translation", "wrap",
                                    "permutation"))
                name = "f32" if dtype == torch.float32 else "f64"
                vox = f"{frame} | {origin}" if variant != "vanilla" else "- | -"
                lines.append(f"| {variant} | {vox} | {name} | {cells} |")
    lines += ["", "Rotations turn positions and cell together. The `cell` frame has no cell to use "
              "for the (non-periodic) cluster and falls back to Cartesian voxels there. "
              "Translations move every atom by a random fraction of the in-plane lattice "
              "vectors, so atoms cross the periodic boundary and are wrapped back: the voxel "
              "origin (min of the wrapped coordinates) then moves, and voxel membership can "
              "change with the paper's `min` origin. The `adsorbate` origin (default) centres the "
              "voxel grid on the adsorbate and wraps atoms into the cell image around it, so "
              "the assignment moves with the structure. Translations that keep atoms inside "
              "the cell (and any translation of a cluster) are exact for every setting "
              "(tests/model/test_legnet.py)."]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        from pathlib import Path

        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
