"""Time LegNet (vanilla, coarsen, full) and schnetpack's PaiNN side by side on OC20-mini batches.

    python benchmarks/model_speed.py [--batch-size 8] [--batches 6] [--repeats 3]
        [--features 64 32] [--blocks 3 2] [--device cpu] [--threads 1]
        [--force-head conservative] [--no-painn] [--no-post-row]
        [--out benchmarks/results/model_speed_cpu.md]

Batches are frames of the embedded OC20 trajectories (33-185 atoms, pbc TTT with vacuum),
graphs built once with the model cutoff. ``--features`` / ``--blocks`` are paired: one table per
pair (width F, depth B), where every LegNet variant has F features and B atom-level interaction
blocks and PaiNN has ``n_atom_basis=F``, ``n_interactions=B``, 16 radial functions and the same
cutoff. Each repeat times every model on the same batches in turn (interleaved, so machine noise
hits all models alike); the best repeat is reported. A diagnostic row times ``full`` with one
post-fusion atom-level block (``num_post_blocks=1``, the default before 2026-12-02), which
splits that block's cost from the multiscale path (pooling, coarse levels, fusion).

forward = energies + forces through :func:`metalegnet.inference.forward` (eval mode, autograd
only where the forces need it). forward+backward = energy + force MAE loss and its gradient
w.r.t. the weights (what one S2EF training step costs without the optimiser); with conservative
forces (-dE/dx, LegNet's default and PaiNN's only head) that is a double backward.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import torch
from ase.io import read

from metalegnet import LegNet, LegNetConfig, inference
from metalegnet.bench.accuracy import cpu_name
from metalegnet.data.graph import atoms_to_graph, collate

DATA = Path(__file__).resolve().parents[1] / "src/metalegnet/data/embedded/oc20_traj"
VARIANTS = ("vanilla", "coarsen", "full")
#: diagnostic row: ``full`` with ``num_post_blocks=1`` (one atom-level block after fusion)
WITH_POST = "full + post block"


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


def build_models(features, blocks, force_head, device, painn=True, post_row=True):
    """LegNet variants at width ``features`` and depth ``blocks`` (+ PaiNN at the same, and
    ``full`` with a post-fusion block, :data:`WITH_POST`)."""
    cfg = dict(num_features=features, num_blocks=blocks, force_head=force_head)
    models = {}
    for v in VARIANTS:
        torch.manual_seed(0)
        models[v] = LegNet(LegNetConfig(variant=v, **cfg)).to(device)
    if post_row:  # diagnostic: the full model with one atom-level block after fusion
        torch.manual_seed(0)
        models[WITH_POST] = LegNet(LegNetConfig(variant="full", num_post_blocks=1, **cfg)).to(
            device)
    if painn:
        from metalegnet.model.baselines import build_baseline

        torch.manual_seed(0)
        c = models["full"].config
        models["painn"] = build_baseline("painn", {
            "n_atom_basis": features, "n_interactions": blocks, "n_rbf": c.num_radial,
            "cutoff": c.cutoff}).to(device)
    return models


def bench(models, data, repeats, device):
    """Best time (s) per (model, backward) over ``repeats`` interleaved repeats."""
    for m in models.values():  # warm-up
        m.train(True)
        time_model(m, data[:1], True, device)
        m.train(False)
        time_model(m, data[:1], False, device)
    best = {(k, b): np.inf for k in models for b in (False, True)}
    for _ in range(repeats):
        for b in (False, True):
            for k, m in models.items():
                m.train(b)
                best[(k, b)] = min(best[(k, b)], time_model(m, data, b, device))
    return best


def table(models, best, n_struct, features, blocks):
    n_weights = {k: sum(p.numel() for p in m.parameters()) for k, m in models.items()}
    lines = [f"### F={features}, {blocks} blocks", "",
             "| model | weights | forward (structures/s) | forward+backward (structures/s) | "
             "forward cost vs vanilla | fwd+bwd cost vs vanilla |", "|---|---|---|---|---|---|"]
    for k in models:
        f, fb = best[(k, False)], best[(k, True)]
        lines.append(f"| {'painn' if k == 'painn' else 'legnet-' + k} | {n_weights[k]:,} | "
                     f"{n_struct / f:.1f} | {n_struct / fb:.1f} | "
                     f"{f / best[('vanilla', False)]:.2f}x | "
                     f"{fb / best[('vanilla', True)]:.2f}x |")
    lines.append("")
    if "painn" in models:
        ratio = {b: best[("painn", b)] / best[("full", b)] for b in (False, True)}
        lines.append(f"Throughput legnet-full / PaiNN: forward {ratio[False]:.2f}x, "
                     f"forward+backward **{ratio[True]:.2f}x** (target >= 0.8x).  ")
    lines.append(f"Cost vs vanilla, forward+backward: coarsen "
                 f"{best[('coarsen', True)] / best[('vanilla', True)]:.2f}x, full "
                 f"**{best[('full', True)] / best[('vanilla', True)]:.2f}x** (target <= 1.3x); "
                 f"forward: coarsen {best[('coarsen', False)] / best[('vanilla', False)]:.2f}x, "
                 f"full {best[('full', False)] / best[('vanilla', False)]:.2f}x.")
    if WITH_POST in models:
        vanilla = best[("vanilla", True)]
        post = (best[(WITH_POST, True)] - best[("full", True)]) / vanilla
        lines[-1] += "  "
        lines.append(f"Full with one post-fusion block (`num_post_blocks=1`, a diagnostic, the "
                     f"default before 2026-12-02): fwd+bwd {best[(WITH_POST, True)] / vanilla:.2f}x"
                     f" vanilla; the post-fusion block (one more atom-level interaction block) "
                     f"alone {post:.2f}x.")
    return lines


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--batches", type=int, default=6)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--features", type=int, nargs="+", default=[64, 32],
                    help="widths F, one table each (paired with --blocks)")
    ap.add_argument("--blocks", type=int, nargs="+", default=[3, 2],
                    help="atom-level interaction blocks B, paired with --features")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    ap.add_argument("--force-head", default="conservative")
    ap.add_argument("--no-painn", action="store_true", help="time the LegNet variants only")
    ap.add_argument("--no-post-row", action="store_true",
                    help="skip the diagnostic row of full with a post-fusion block")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    if len(args.features) != len(args.blocks):
        ap.error("--features and --blocks need the same number of values")
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    dev = (torch.cuda.get_device_name(device) if device.type == "cuda"
           else f"CPU ({cpu_name()}, {os.cpu_count()} cores, {torch.get_num_threads()} "
                f"torch thread{'s' if torch.get_num_threads() > 1 else ''})")
    c = LegNetConfig()
    data = batches(c.cutoff, args.batch_size, args.batches, device)
    n_struct = sum(g.num_graphs for g in data)
    n_atoms = sum(g.num_atoms for g in data)
    n_edges = sum(g.edge_index.shape[1] for g in data)
    cmd = (f"python benchmarks/model_speed.py --batch-size {args.batch_size} "
           f"--batches {args.batches} --repeats {args.repeats} "
           f"--features {' '.join(map(str, args.features))} "
           f"--blocks {' '.join(map(str, args.blocks))} --device {args.device} "
           f"--threads {args.threads} --force-head {args.force_head}"
           + (" --no-painn" if args.no_painn else "")
           + (" --no-post-row" if args.no_post_row else ""))
    lines = [f"# LegNet and PaiNN speed on OC20-mini batches ({time.strftime('%Y-%m-%d')}, "
             f"{dev}, torch {torch.__version__})", "", f"Command: `{cmd}`", "",
             f"{n_struct} structures ({n_atoms} atoms, {n_edges} edges) in {len(data)} "
             f"batches; LegNetConfig defaults otherwise (cutoff {c.cutoff} Å, {c.num_radial} "
             f"radial functions, voxel sizes {c.voxel_sizes} Å, {args.force_head} forces); "
             f"PaiNN: schnetpack 2.1.1 at the same width, depth, cutoff and radial functions. "
             f"Best of {args.repeats} interleaved repeats.", ""]
    for features, blocks in zip(args.features, args.blocks):
        models = build_models(features, blocks, args.force_head, device, not args.no_painn,
                              not args.no_post_row)
        best = bench(models, data, args.repeats, device)
        rows = table(models, best, n_struct, features, blocks) + [""]
        print("\n".join(rows), flush=True)
        lines += rows
    text = "\n".join(lines)
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
