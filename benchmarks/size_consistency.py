"""Size consistency: repeating a periodic cell n times must multiply a total energy by n.

For every LegNet variant (untrained, float64, ``extensive=True`` as the trainer sets it for
total-energy targets; sigma = 1 and no shifts, so energies are in model units) this reports

    |E(cell repeated n times) - n E(cell)| / |n E(cell)|

on a Pt bulk cell (4 atoms -> 3x3x3 = 108), a clean Pt(111) 2x2x3 slab (-> 3x3 in plane) and
Pt(111)+OH (-> 3x3, nine OH). Vanilla is exact by construction (local sums plus graph means);
the voxel variants pool a repeated cell into a different voxel grid (n_k = round(|a_k| / s)
bins need not scale with the repetition), so they deviate. Worst over ``--seeds`` models.

    python benchmarks/size_consistency.py --out benchmarks/results/size_consistency.md
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from ase import Atoms
from ase.build import add_adsorbate, bulk, fcc111

from metalegnet import LegNet, LegNetConfig
from metalegnet.data.graph import atoms_to_graph, collate


def cases() -> dict[str, tuple[Atoms, tuple[int, int, int]]]:
    pt = bulk("Pt", "fcc", a=3.92, cubic=True)
    pt.rattle(0.05, seed=1)
    slab = fcc111("Pt", size=(2, 2, 3), vacuum=6.0)
    slab.pbc = (True, True, True)
    slab.rattle(0.05, seed=2)
    ads = fcc111("Pt", size=(2, 2, 3), vacuum=6.0)
    add_adsorbate(ads, Atoms("OH", positions=[[0, 0, 0], [0, 0, 0.97]]), 2.0, "fcc")
    tags = np.ones(len(ads), dtype=int)
    tags[-2:] = 2
    ads.set_tags(tags)
    ads.pbc = (True, True, True)
    ads.rattle(0.05, seed=3)
    return {"Pt bulk 4 -> 108 atoms": (pt, (3, 3, 3)),
            "Pt(111) 2x2x3 -> 6x6x3": (slab, (3, 3, 1)),
            "Pt(111)+OH 2x2 -> 6x6": (ads, (3, 3, 1))}


def energy(model, atoms) -> float:
    g = collate([atoms_to_graph(atoms, model.config.cutoff, dtype=torch.float64)])
    with torch.no_grad():
        return float(model(g, compute_forces=False).energy[0])


def build(variant: str, seed: int) -> LegNet:
    torch.manual_seed(seed)
    kw = dict(variant=variant, cutoff=5.0, num_features=32, num_blocks=2)
    try:
        model = LegNet(LegNetConfig(extensive=True, **kw))
    except TypeError:  # code from before the extensive option
        model = LegNet(LegNetConfig(**kw))
    model = model.double().eval()
    if variant != "vanilla":  # the multiscale path starts at zero: give it weights
        with torch.no_grad():
            for name, p in model.named_parameters():
                if name.startswith(("fusion", "post_blocks", "output.context")):
                    p.normal_(0.0, 0.2)
    return model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--out", help="markdown file to write")
    args = ap.parse_args()
    rows = ["| variant | " + " | ".join(cases()) + " |",
            "|---|" + "---|" * len(cases())]
    for variant in ("vanilla", "coarsen", "full"):
        worst = []
        for atoms, reps in cases().values():
            n = int(np.prod(reps))
            errs = []
            for seed in range(args.seeds):
                model = build(variant, seed)
                e1, en = energy(model, atoms), energy(model, atoms.repeat(reps))
                errs.append(abs(en - n * e1) / max(abs(n * e1), 1e-12))
            worst.append(max(errs))
        rows.append(f"| {variant} | " + " | ".join(f"{w:.1e}" for w in worst) + " |")
    text = ("# Size consistency (untrained, float64, worst of "
            f"{args.seeds} seeds): |E(repeated) - n E| / |n E|\n\n" + "\n".join(rows) + "\n")
    print(text)
    if args.out:
        Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
