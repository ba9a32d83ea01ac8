"""Can a model fit forces at all? Full-batch overfitting of 8 frames (S2F), step by step.

Diagnostic for the S2F rows of the accuracy suite, where every model ends within 2 % of the
zero-force reference: it separates "the model or the loss cannot fit forces" from "the
budget is too small / the forces do not generalise". Frames: the first 8 training frames of
one system of the embedded ``bench-3d-ml`` set (SevenNet-0 labels, system
``bench-3d-ml-00000``, Mo bcc(100) + H), split by frame (this is an overfitting test, not an
accuracy number). Loss: the trainer's l2mae (mean over free atoms of ||dF|| / sigma_F) or
the mean squared normalised component error; Adam, constant learning rate.

Prints the force MAE (eV/Å, per Cartesian component of the free atoms) on the same 8 frames
every 50 steps, next to the zero-force MAE, and the wall time (one torch thread).

    python benchmarks/force_overfit.py --model legnet-vanilla --lr 0.005 --loss l2mae
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch

from metalegnet.data.graph import collate
from metalegnet.data.registry import load
from metalegnet.train.config import TrainConfig
from metalegnet.train.losses import force_terms
from metalegnet.train.trainer import Trainer


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="legnet-vanilla")
    p.add_argument("--lr", type=float, default=0.005)
    p.add_argument("--loss", choices=("l2mae", "mse"), default="l2mae")
    p.add_argument("--steps", type=int, default=300)
    args = p.parse_args()
    torch.set_num_threads(1)
    frames = [a for a in load("bench-3d-ml") if a.info["system_id"] == "bench-3d-ml-00000"]
    model_config = ({"num_features": 32, "num_blocks": 2, "num_post_blocks": 0}
                    if args.model.startswith("legnet") else {})
    with tempfile.TemporaryDirectory() as out:
        config = TrainConfig(data="bench-3d-ml", task="s2f", model=args.model,
                             model_config=model_config, group_by=["fid"], cutoff=5.0,
                             epochs=1, seed=0, num_threads=1, progress=False)
        trainer = Trainer(config, out, structures=frames[:40], log=lambda *_: None)
    graph = collate([trainer.train_set[i] for i in range(8)])
    model, sigma = trainer.model, trainer.norm.sigma_forces
    free = ~graph.fixed.bool()
    target = graph.labels["forces"][free]
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    print(f"{args.model}, lr {args.lr}, loss {args.loss}: 8 frames, {int(free.sum())} free "
          f"atoms, zero-force MAE {target.abs().mean().item():.4f} eV/Å, sigma_F {sigma:.4f}")
    start = time.time()
    for step in range(args.steps + 1):
        forces = model(graph, compute_forces=True).forces[free]
        loss = force_terms(forces, target, sigma, args.loss).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 50 == 0:
            mae = (forces - target).abs().mean().item()
            print(f"step {step:4d}  force MAE {mae:.4f} eV/Å  ({time.time() - start:.1f} s)")


if __name__ == "__main__":
    main()
