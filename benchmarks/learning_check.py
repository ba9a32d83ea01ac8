"""Does each model learn? Train / validation / test MAE next to the trivial references, the
spread of predictions against the spread of targets, and LegNet's mean readout gate.

For every (row, model, seed) this trains through the package's Trainer with the ``quick``
suite's recipe, row budget and model sizes (the same split, epochs and batch for every model),
then scores the best-on-validation weights on all three splits. "learned std" is the spread
over test structures of what the network adds to its energy reference (prediction minus the
composition/mean reference stored in the model), "residual std" the spread of target minus
reference: a model that predicts its reference has learned std ~0 and the reference's MAE.

    python benchmarks/learning_check.py --rows c3-cu111:s2e,bench-3d:s2e \
        --generated /tmp/gen --out benchmarks/results/learning_check_after.md

Resumable: each finished run is appended to ``OUT.jsonl`` and skipped on the next start.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

MODELS = ("legnet-vanilla", "legnet-coarsen", "legnet", "painn", "schnet")


def _gate_hook(model, store: list):
    out = getattr(model, "output", None)
    if out is None or not hasattr(out, "gate"):
        return None

    def hook(_module, _inputs, result):
        if isinstance(result, dict) and "gate" in result:
            store.append(result["gate"].detach())

    return out.register_forward_hook(hook)


def reference_energy(model, dataset, batch_size: int) -> np.ndarray:
    """What the model predicts with its learned part at zero (eV), per structure of
    ``dataset``: :meth:`EnergyNormalization.reference`."""
    from metalegnet.data.graph import collate

    out = []
    with torch.no_grad():
        for k in range(0, len(dataset), batch_size):
            g = collate([dataset[i] for i in range(k, min(k + batch_size, len(dataset)))])
            out.append(model.normalization.reference(g.z, g.batch, g.natoms).double().numpy())
    return np.concatenate(out) if out else np.zeros(0)


def parse_model(name: str) -> tuple[str, dict]:
    """``legnet`` or ``legnet[num_post_blocks=0,num_features=48]``: a suite model with
    model_config overrides (values parsed as YAML)."""
    import yaml

    if "[" not in name:
        return name, {}
    base, rest = name.split("[", 1)
    over = {}
    for item in rest.rstrip("]").split(";"):
        key, value = item.split("=", 1)
        over[key.strip()] = yaml.safe_load(value)
    return base, over


def run_one(row_key: str, model: str, seed: int, source: str, epochs: int | None,
            patience: int | None = None) -> dict:
    from metalegnet.bench.accuracy import train_config
    from metalegnet.bench.jobs import structures_of
    from metalegnet.bench.suites import get_suite
    from metalegnet.train.config import config_from_dict
    from metalegnet.train.evaluate import evaluate_model
    from metalegnet.train.trainer import Trainer

    suite = get_suite("quick")
    row = suite.row(row_key)
    base, overrides = parse_model(model)
    spec = suite.model(base)
    cfg_dict = train_config(suite, row, spec, seed, source)
    cfg_dict["model_config"].update(overrides)
    if epochs:
        cfg_dict["epochs"] = epochs
    if patience is not None:
        cfg_dict["patience"] = patience
    cfg = config_from_dict(cfg_dict)
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(cfg, Path(tmp) / "run", structures=structures_of(cfg.data),
                          log=lambda *_: None)
        metrics = trainer.fit()
        res = {"row": row_key, "model": model, "seed": seed, "epochs": metrics["epochs_run"],
               "seconds": round(time.perf_counter() - t0, 1),
               "references_test": {k: v.get("energy_mae")
                                   for k, v in metrics["baselines_test"].items()}}
        gates: list = []
        handle = _gate_hook(trainer.eval_model, gates)
        for part, data in (("train", trainer.train_set), ("val", trainer.val_set),
                           ("test", trainer.test_set)):
            gates.clear()
            sums, preds = evaluate_model(trainer.eval_model, data, trainer.objective,
                                         cfg.batch_size, trainer.device, collect=True)
            arr = preds.arrays()
            true, pred = arr["energy_true"], arr["energy_pred"]
            res[f"{part}_mae"] = float(np.mean(np.abs(true - pred)))
            res[f"{part}_target_std"] = float(np.std(true))
            res[f"{part}_pred_std"] = float(np.std(pred))
            ref = reference_energy(trainer.eval_model, data, cfg.batch_size)
            if len(ref) == len(true):  # the spread of what the network adds to its reference
                res[f"{part}_learned_std"] = float(np.std(pred - ref))
                res[f"{part}_residual_std"] = float(np.std(true - ref))
            if gates:
                res[f"{part}_gate_mean"] = float(torch.cat(gates).mean())
        if handle is not None:
            handle.remove()
    return res


def summarise(results: list[dict], rows: list[str], models: list[str]) -> str:
    lines = ["| row | model | train MAE | val MAE | test MAE | learned std / residual std (test) "
             "| mean gate (test) | epochs |", "|---|---|---|---|---|---|---|---|"]

    def ms(xs):
        xs = [x for x in xs if x is not None]
        if not xs:
            return "-"
        sd = statistics.stdev(xs) if len(xs) > 1 else 0.0
        return f"{statistics.mean(xs):.4f} ± {sd:.4f}"

    for row in rows:
        refs: dict[str, dict[int, float]] = {}  # reference -> seed -> MAE (one per split)
        for model in models:
            rs = [r for r in results if r["row"] == row and r["model"] == model]
            if not rs:
                continue
            for r in rs:
                for k, v in r["references_test"].items():
                    refs.setdefault(k, {})[r["seed"]] = v
            ratio = [r["test_learned_std"] / max(r["test_residual_std"], 1e-12) for r in rs
                     if "test_learned_std" in r]
            lines.append(
                f"| {row} | {model} | {ms([r['train_mae'] for r in rs])} | "
                f"{ms([r['val_mae'] for r in rs])} | {ms([r['test_mae'] for r in rs])} | "
                f"{ms(ratio)} | {ms([r.get('test_gate_mean') for r in rs])} | "
                f"{ms([r['epochs'] for r in rs])} |")
        for k, by_seed in refs.items():
            # every model of a seed sees the same split, so one reference value per seed
            lines.append(f"| {row} | reference: {k} | - | - | "
                         f"{ms(list(by_seed.values()))} | - | - | - |")
    return "\n".join(lines)


def _split_models(text: str) -> list[str]:
    """Split on commas outside brackets."""
    out, depth, cur = [], 0, ""
    for ch in text:
        depth += ch == "["
        depth -= ch == "]"
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    return [m for m in out + [cur] if m]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", default="c3-cu111:s2e,bench-3d:s2e")
    p.add_argument("--models", default=",".join(MODELS),
                   help="comma-separated; a model may carry model_config overrides: "
                        "'legnet[num_post_blocks=0;num_features=48]'")
    p.add_argument("--patience", type=int, help="early stopping patience (epochs without "
                   "validation gain; default: the suite's)")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--epochs", type=int, help="override every row's epochs")
    p.add_argument("--generated", default="/tmp/gen", help="folder with generated recipes")
    p.add_argument("--out", required=True, help="markdown output (OUT.jsonl keeps each run)")
    args = p.parse_args()
    rows, models = args.rows.split(","), _split_models(args.models)
    out = Path(args.out)
    log = out.with_suffix(".jsonl")
    done = [json.loads(x) for x in log.read_text().splitlines()] if log.exists() else []
    have = {(r["row"], r["model"], r["seed"]) for r in done}
    for row in rows:
        dataset = row.split(":")[0]
        source = str(Path(args.generated) / dataset) if dataset.startswith("bench-") \
            else dataset
        for seed in range(args.seeds):
            for model in models:
                if (row, model, seed) in have:
                    continue
                res = run_one(row, model, seed, source, args.epochs, args.patience)
                done.append(res)
                with log.open("a") as fh:
                    fh.write(json.dumps(res) + "\n")
                print(f"{row} {model} seed {seed}: train {res['train_mae']:.4f} "
                      f"val {res['val_mae']:.4f} test {res['test_mae']:.4f} "
                      f"learned/residual std {res.get('test_learned_std', 0):.4f}/"
                      f"{res.get('test_residual_std', 0):.4f} "
                      f"({res['seconds']} s)", flush=True)
    out.write_text(f"# Learning check\n\nCommand: `python benchmarks/learning_check.py "
                   f"--rows {args.rows} --models '{args.models}' --seeds {args.seeds}"
                   + (f" --epochs {args.epochs}" if args.epochs else "")
                   + (f" --patience {args.patience}" if args.patience is not None else "")
                   + "` (CPU, 1 torch thread per run)\n\n"
                   + summarise(done, rows, models) + "\n")
    print(out.read_text())


if __name__ == "__main__":
    main()
