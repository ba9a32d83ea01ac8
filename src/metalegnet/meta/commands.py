"""``metalegnet meta-train`` and ``metalegnet adapt``: argument parsing only; the work is in
:mod:`metalegnet.meta.train` and :mod:`metalegnet.meta.adapt`.

Config precedence for ``meta-train``: defaults < ``--config FILE.yaml`` < flags; with
``--resume`` the run's own ``config.yaml`` is used (``--meta-steps`` may grow).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from metalegnet.errors import ConfigError

#: flag dest -> MetaTrainConfig key
_FLAGS = ("data", "group_by", "targets", "task", "energy_target", "energy_key", "model",
          "cutoff", "init", "support", "query", "meta_batch", "meta_steps", "outer_lr",
          "inner_steps", "inner_lr", "first_order", "meta_sgd", "task_shift", "seed",
          "num_threads", "progress", "checkpoint_every", "inner", "head_lambda",
          "zero_shot_weight")


def register(subparsers) -> None:
    _register_meta_train(subparsers)
    _register_adapt(subparsers)


def _register_meta_train(subparsers) -> None:
    p = subparsers.add_parser(
        "meta-train", help="MAML over catalyst-adsorbate tasks (paper eqs. 24-25)",
        description="Meta-train an initialisation over source tasks (one task per value of "
        "the --group-by info keys) so that `metalegnet adapt` needs few structures. DIR "
        "receives checkpoint.pt, last.pt (resume), config.yaml, tasks.json, log.csv, "
        "metrics.json.")
    p.add_argument("--data", metavar="SRC[,SRC]", help="source data (files, folders, "
                   "embedded names, comma-separated)")
    p.add_argument("--group-by", metavar="KEY[,KEY]", help="info keys defining a task "
                   "(default surface,adsorbate)")
    p.add_argument("--targets", metavar="KEY=V[+V][;KEY=V]", help="held-out target tasks "
                   "(never meta-trained on; leak-checked)")
    p.add_argument("--out", metavar="DIR", required=True)
    p.add_argument("--config", metavar="FILE.yaml", help="YAML MetaTrainConfig")
    p.add_argument("--resume", action="store_true", help="continue from DIR/last.pt")
    p.add_argument("--task", choices=("s2e", "s2f", "s2ef"))
    p.add_argument("--energy-target", choices=("total", "adsorption"))
    p.add_argument("--energy-key", metavar="KEY")
    p.add_argument("--model", help="legnet, legnet-vanilla or legnet-coarsen")
    p.add_argument("--cutoff", type=float)
    p.add_argument("--init", metavar="CKPT", help="start from this checkpoint")
    p.add_argument("--support", type=int, help="support structures per task and step")
    p.add_argument("--query", type=int, help="query structures per task and step")
    p.add_argument("--meta-batch", type=int, help="tasks per outer step")
    p.add_argument("--meta-steps", type=int, help="outer steps")
    p.add_argument("--outer-lr", type=float)
    p.add_argument("--inner-steps", type=int)
    p.add_argument("--inner-lr", type=float)
    p.add_argument("--first-order", action="store_const", const=True, help="FOMAML")
    p.add_argument("--meta-sgd", action="store_const", const=True,
                   help="learn per-parameter inner rates")
    p.add_argument("--no-task-shift", dest="task_shift", action="store_const", const=False,
                   help="no per-task energy reference")
    p.add_argument("--inner", choices=("maml", "ridge-head"),
                   help="inner loop: eq. 24's gradient steps (maml, default) or the "
                   "closed-form last-layer solve (ridge-head, energies only)")
    p.add_argument("--head-lambda", type=float, help="initial relative ridge strength of "
                   "--inner ridge-head (learned)")
    p.add_argument("--zero-shot-weight", type=float, help="weight of the unadapted model's "
                   "query loss in the meta-loss, which keeps it a good zero-shot model "
                   "(default 1; 0: eq. 25 as published)")
    p.add_argument("--seed", type=int)
    p.add_argument("--num-threads", type=int)
    p.add_argument("--checkpoint-every", type=int)
    p.add_argument("--no-progress", dest="progress", action="store_const", const=False)
    p.set_defaults(func=run_meta_train)


def _split(text):
    return None if text is None else [k.strip() for k in text.split(",") if k.strip()]


def run_meta_train(args: argparse.Namespace) -> int:
    from metalegnet.meta.config import load_meta_config
    from metalegnet.meta.train import meta_train

    out = Path(args.out)
    overrides = {k: getattr(args, k) for k in _FLAGS}
    overrides["group_by"] = _split(args.group_by)
    if args.resume and (out / "config.yaml").exists():
        changed = {k for k, v in overrides.items() if v is not None} - {
            "meta_steps", "num_threads", "progress"}
        if changed:
            raise ConfigError(f"--resume uses {out}/config.yaml; only --meta-steps, "
                              f"--num-threads, --no-progress may change (got "
                              f"{', '.join(sorted(changed))})")
        from metalegnet.config import load_yaml

        saved = load_yaml(str(out / "config.yaml"))
        if "zero_shot_weight" not in saved:  # written before the term existed: w = 0
            overrides["zero_shot_weight"] = 0.0
        config = load_meta_config(str(out / "config.yaml"), overrides)
    else:
        config = load_meta_config(args.config, overrides)
    meta_train(config, out, resume=args.resume)
    return 0


def _register_adapt(subparsers) -> None:
    p = subparsers.add_parser(
        "adapt", help="adapt a (meta-)trained checkpoint to a few DFT calculations",
        description="Adapt CKPT to the task of the support structures (e.g. 10 DFT "
        "calculations of a new catalyst): a per-task energy reference plus inner steps "
        "(eq. 24, --method maml) or a closed-form ridge fit of the last layer "
        "(--method ridge-head), chosen by cross-validation on the support set, falling "
        "back to the unadapted model when adaptation does not help there. The result is "
        "an ordinary checkpoint (metalegnet predict, MetaLegNetCalculator.from_checkpoint).")
    p.add_argument("checkpoint", metavar="CKPT")
    p.add_argument("--support", metavar="FILE", required=True,
                   help="labelled structures of the target task (any ASE format)")
    p.add_argument("-o", "--output", metavar="ADAPTED.pt", required=True)
    p.add_argument("--steps", type=int, help="inner steps (default: by cross-validation)")
    p.add_argument("--lr", type=float, help="inner learning rate (default: the "
                   "meta-trained one, else 0.01)")
    p.add_argument("--step-grid", metavar="N[,N]", help="candidate step counts for the "
                   "cross-validation (default: the checkpoint's, else 0,1,2,4,8,16,32)")
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--method", choices=("maml", "ridge-head"),
                   help="inner steps (maml) or the closed-form last layer (ridge-head); "
                   "default: what CKPT was meta-trained for")
    p.add_argument("--energy-key", metavar="KEY", help="info key of the adsorption energy")
    p.add_argument("--no-task-shift", dest="task_shift", action="store_false")
    p.add_argument("--k1-policy", choices=("auto", "shrunk", "zero-shot", "source"),
                   default="auto",
                   help="with one support structure: shift by the support residual shrunk "
                   "by the model's error on unseen tasks (shrunk, James-Stein), keep the "
                   "model (zero-shot), or take the choice meta-training made on the source "
                   "tasks (source); auto (default): shrunk where the checkpoint records "
                   "that error, else zero-shot")
    p.set_defaults(func=run_adapt)


def run_adapt(args: argparse.Namespace) -> int:
    from metalegnet.meta.adapt_io import adapt_checkpoint

    grid = None
    if args.step_grid:
        try:
            grid = [int(x) for x in args.step_grid.split(",") if x.strip()]
        except ValueError:
            raise ConfigError(f"--step-grid {args.step_grid!r}: expected integers like "
                              "0,1,2,4") from None
    result, out = adapt_checkpoint(args.checkpoint, args.support, args.output,
                                   steps=args.steps, lr=args.lr, step_grid=grid,
                                   folds=args.folds, energy_key=args.energy_key,
                                   task_shift=args.task_shift, k1_policy=args.k1_policy,
                                   method=args.method)
    print(json.dumps({"wrote": str(out), **result.summary()}))
    return 0
