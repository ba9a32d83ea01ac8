"""Time LegNet forward and forward+backward on OC20-mini batches, variants side by side.

    python benchmarks/model_speed.py [--batch-size 8] [--batches 6] [--repeats 3]
        [--device cpu] [--force-head direct] [--out benchmarks/results/model_speed.md]

Batches are frames of the embedded OC20 trajectories (33-185 atoms, pbc TTT with vacuum),
graphs built once with the model cutoff. Each repeat times every variant on the same batches in
turn (interleaved, so machine noise hits all variants alike); the best repeat is reported.
forward+backward = energy + force MAE loss and its gradient w.r.t. the weights (what one S2EF
training step costs without the optimiser).
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import numpy as np
import torch
from ase.io import read

from metalegnet import LegNet, LegNetConfig, inference
from metalegnet.data.graph import atoms_to_graph, collate

DATA = Path(__file__).resolve().parents[1] / "src/metalegnet/data/embedded/oc20_traj"


def batches(cutoff, batch_size, n_batches, device):
    files = sorted(DATA.glob("*.extxyz.xz"))
    frames = []
    for f in files:
        traj = read(f, ":")
        frames += traj[:: max(1, len(traj) // 4)][:4]
    rng = np.random.default_rng(0)
    rng.shuffle(frames)
    out = []
    for b in range(n_batches):
        chunk = frames[b * batch_size:(b + 1) * batch_size]
        g = collate([atoms_to_graph(a, cutoff, labels={"energy": a.get_potential_energy(),
                                                       "forces": a.get_forces()})
                     for a in chunk])
        out.append(g.to(device))
    return out


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_model(model, data, backward, device):
    sync(device)
    t0 = time.perf_counter()
    for g in data:
        if backward:
            model.zero_grad(set_to_none=True)
            out = model(g)
            loss = (out.energy - g.labels["energy"]).abs().mean() + \
                (out.forces - g.labels["forces"]).abs().mean()
            loss.backward()
        else:
            out = inference.forward(model, g)
    sync(device)
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--batches", type=int, default=6)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--force-head", default="direct")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    device = torch.device(args.device)
    cfg = dict(force_head=args.force_head)
    models = {v: LegNet(LegNetConfig(variant=v, **cfg)).to(device)
              for v in ("vanilla", "coarsen", "full")}
    data = batches(models["full"].config.cutoff, args.batch_size, args.batches, device)
    n_struct = sum(g.num_graphs for g in data)
    n_atoms = sum(g.num_atoms for g in data)
    for m in models.values():  # warm-up
        time_model(m, data[:1], True, device)
    best = {(v, b): np.inf for v in models for b in (False, True)}
    for _ in range(args.repeats):
        for b in (False, True):
            for v, m in models.items():
                m.train(b)
                best[(v, b)] = min(best[(v, b)], time_model(m, data, b, device))
    dev = (torch.cuda.get_device_name(device) if device.type == "cuda"
           else f"CPU ({platform.machine()}, {torch.get_num_threads()} threads)")
    c = models["full"].config
    lines = [f"# LegNet speed on OC20-mini batches ({time.strftime('%Y-%m-%d')}, {dev})", "",
             f"Command: `python benchmarks/model_speed.py --batch-size {args.batch_size} "
             f"--batches {args.batches} --repeats {args.repeats} --device {args.device} "
             f"--force-head {args.force_head}`", "",
             f"{n_struct} structures ({n_atoms} atoms) in {len(data)} batches; default "
             f"LegNetConfig (F={c.num_features}, {c.num_blocks} blocks, cutoff {c.cutoff} Å, "
             f"voxel sizes {c.voxel_sizes} Å, {args.force_head} forces); best of "
             f"{args.repeats} interleaved repeats.", "",
             "| variant | forward (structures/s) | forward+backward (structures/s) | "
             "forward cost vs vanilla | fwd+bwd cost vs vanilla |", "|---|---|---|---|---|"]
    for v in models:
        f, fb = best[(v, False)], best[(v, True)]
        lines.append(f"| {v} | {n_struct / f:.1f} | {n_struct / fb:.1f} | "
                     f"{f / best[('vanilla', False)]:.2f}x | "
                     f"{fb / best[('vanilla', True)]:.2f}x |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
