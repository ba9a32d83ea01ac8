"""``metalegnet train | evaluate | predict``: argument parsing only; the work is in
:mod:`metalegnet.train.trainer`, :mod:`~metalegnet.train.evaluate` and
:mod:`~metalegnet.train.predict`.

Config precedence for ``train``: built-in defaults < ``--config FILE.yaml`` < command-line
flags. With ``--resume`` the run's own ``config.yaml`` is used; only ``--epochs``,
``--device``, ``--num-threads``, ``--num-workers``, ``--max-time`` and ``--no-progress`` may
change on resume.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from metalegnet.errors import ConfigError
from metalegnet.train.config import MODEL_NAMES

#: flag dest -> TrainConfig key
_TRAIN_FLAGS = {"data": "data", "task": "task", "model": "model", "epochs": "epochs",
                "batch_size": "batch_size", "seed": "seed", "device": "device",
                "energy_target": "energy_target", "energy_key": "energy_key",
                "group_by": "group_by", "lr": "lr", "frame_stride": "frame_stride",
                "max_time": "max_time_s", "num_threads": "num_threads",
                "num_workers": "num_workers",
                "force_weight": "force_weight", "cutoff": "cutoff",
                "drop_unlabelled": "drop_unlabelled", "progress": "progress",
                "split_seen_elements": "split_seen_elements",
                "pose_variants": "pose_variants"}
_RESUME_MUTABLE = {"epochs", "device", "num_threads", "num_workers", "max_time_s",
                   "progress"}


def register(subparsers) -> None:
    _register_train(subparsers)
    _register_evaluate(subparsers)
    _register_predict(subparsers)


def _register_train(subparsers) -> None:
    p = subparsers.add_parser(
        "train", help="train LegNet on S2E / S2F / S2EF / IS2RE data",
        description="Train LegNet. SRC is a file, folder, glob, LMDB store or embedded data "
        "set (oc20-mini, c3-cu111, ...). DIR receives checkpoint.pt (best on validation), "
        "last.pt, config.yaml, splits.json, log.csv and metrics.json. Under torchrun the "
        "run is data-parallel (DDP).")
    p.add_argument("--data", metavar="SRC", help="training data source")
    p.add_argument("--task", choices=("s2e", "s2f", "s2ef", "is2re"))
    p.add_argument("--out", metavar="DIR", required=True, help="output folder")
    p.add_argument("--model", choices=MODEL_NAMES,
                   help="model (default legnet = full variant; schnet, dimenet++, cgcnn, painn "
                   "need metalegnet[baselines])")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int, help="global batch size (structures)")
    p.add_argument("--seed", type=int)
    p.add_argument("--device", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--config", metavar="FILE.yaml", help="YAML TrainConfig (unknown keys "
                   "are an error); flags override it")
    p.add_argument("--resume", action="store_true", help="continue from DIR/last.pt")
    p.add_argument("--energy-target", choices=("total", "adsorption"))
    p.add_argument("--energy-key", metavar="KEY", help="info key of the adsorption energy "
                   "(e_ads, eads_real, ...)")
    p.add_argument("--group-by", metavar="KEY[,KEY]", help="info key(s) defining a system; "
                   "splits never cut one (default sid)")
    p.add_argument("--lr", type=float, help="peak learning rate")
    p.add_argument("--cutoff", type=float, help="graph cutoff (Å)")
    p.add_argument("--force-weight", type=float)
    p.add_argument("--frame-stride", type=int, help="keep every k-th frame per sid")
    p.add_argument("--max-time", type=float, metavar="SECONDS",
                   help="stop training after this wall time, then evaluate")
    p.add_argument("--num-threads", type=int, help="CPU threads per process")
    p.add_argument("--num-workers", type=int,
                   help="background processes that build training graphs (default 0)")
    p.add_argument("--drop-unlabelled", action="store_const", const=True,
                   help="skip structures lacking the task's labels")
    p.add_argument("--split-seen-elements", action="store_const", const=True,
                   help="hold out only groups whose elements all occur in training groups")
    p.add_argument("--pose-variants", type=int, metavar="N",
                   help="s2e: also train on N placed-pose variants of each training structure "
                   "(adsorbate moved ~0.15 Å, labelled with its structure's energy), for the "
                   "model SEAM ranks placed poses with")
    p.add_argument("--no-progress", dest="progress", action="store_const", const=False,
                   help="no progress bar")
    p.set_defaults(func=run_train)


def _unseen_flag(p) -> None:
    p.add_argument("--unseen-elements", choices=("warn", "error", "ignore"), default="warn",
                   help="structures with elements absent from the training split: one "
                   "warning line (default), an error, or nothing")


def _register_evaluate(subparsers) -> None:
    p = subparsers.add_parser(
        "evaluate", help="errors of a checkpoint on a data set, with a parity plot",
        description="Write metrics JSON (energy MAE eV, force MAE eV/Å) and a parity plot "
        "PNG beside it.")
    p.add_argument("checkpoint", metavar="CKPT")
    p.add_argument("--data", metavar="SRC", help="data source (default: the training data)")
    p.add_argument("--split", choices=("train", "val", "test"),
                   help="part of the run's splits.json (default: every structure)")
    p.add_argument("--splits", metavar="FILE", help="splits.json (default: beside CKPT)")
    p.add_argument("--out", metavar="FILE", help="metrics JSON (default: "
                   "<CKPT dir>/eval_<split>.json); the PNG goes beside it")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--device", default="cpu")
    _unseen_flag(p)
    p.set_defaults(func=run_evaluate)


def _register_predict(subparsers) -> None:
    p = subparsers.add_parser(
        "predict", help="predict energies, forces and per-atom contributions to extxyz",
        description="Write INPUT's structures with predicted energy (eV), forces (eV/Å), "
        "per-atom energies, contributions c_i and importances w_i as extxyz.")
    p.add_argument("checkpoint", metavar="CKPT")
    p.add_argument("input", metavar="INPUT", help="structures (any data source)")
    p.add_argument("-o", "--output", metavar="OUT.extxyz", required=True)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--device", default="cpu")
    _unseen_flag(p)
    p.set_defaults(func=run_predict)


def train_config_from_args(args: argparse.Namespace):
    """Resolve the run's :class:`TrainConfig` (see the module docstring)."""
    from metalegnet.config import load_yaml
    from metalegnet.train.config import config_from_dict

    flags = {key: getattr(args, dest) for dest, key in _TRAIN_FLAGS.items()
             if getattr(args, dest, None) is not None}
    saved = Path(args.out) / "config.yaml"
    if args.resume and saved.exists():
        base = load_yaml(saved)
        for key, value in flags.items():
            if key not in _RESUME_MUTABLE and _differs(base.get(key), value):
                raise ConfigError(f"--resume keeps the run's config; {key}={value!r} differs "
                                  f"from {saved} ({base.get(key)!r})")
        base.update({k: v for k, v in flags.items() if k in _RESUME_MUTABLE})
        return config_from_dict(base)
    base = load_yaml(args.config) if args.config else {}
    base.update(flags)
    if "data" not in base:
        raise ConfigError("no training data: pass --data SRC (or set data: in --config)")
    return config_from_dict(base)


def _differs(saved, given) -> bool:
    if isinstance(saved, list) and isinstance(given, str):
        given = [k for k in given.split(",") if k]
    return saved != given


def run_train(args: argparse.Namespace) -> int:
    from metalegnet.train.distributed import shutdown
    from metalegnet.train.trainer import train

    config = train_config_from_args(args)
    try:
        train(config, args.out, resume=args.resume)
    except BaseException:
        shutdown(sync=False)
        raise
    shutdown(sync=True)
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    from metalegnet.checkpoint import read_checkpoint
    from metalegnet.train.evaluate import evaluate_checkpoint

    data = args.data
    if data is None:
        meta = read_checkpoint(args.checkpoint).get("metadata", {})
        data = meta.get("train_config", {}).get("data")
        if data is None:
            raise ConfigError("pass --data SRC (the checkpoint does not name its data)")
    result = evaluate_checkpoint(args.checkpoint, data, args.split, args.out, args.splits,
                                 args.batch_size, args.device,
                                 unseen_elements=args.unseen_elements)
    print(json.dumps(result["metrics"], indent=1))
    print(f"[{result['energy']}; energies eV, forces eV/Å]")
    spread = result.get("spread") or {}
    if spread.get("energy_ratio") is not None:
        print(f"spread of the predicted energies: std {spread['energy_pred_std']:.4g} eV against "
              f"{spread['energy_true_std']:.4g} eV in the labels (ratio "
              f"{spread['energy_ratio']:.2f}; near 0: the model predicts about a constant)")
    print(f"wrote {result['metrics_file']} and {result['parity_plot']}")
    return 0


def run_predict(args: argparse.Namespace) -> int:
    from metalegnet.train.predict import predict_file

    path = predict_file(args.checkpoint, args.input, args.output, args.batch_size,
                        args.device, unseen_elements=args.unseen_elements)
    print(f"wrote {path}")
    return 0
