"""The work of ``metalegnet bench fewshot`` (see :mod:`metalegnet.bench.fewshot`)."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from metalegnet.bench.fewshot import MIN_QUERY, FewShotRun, markdown, summarize
from metalegnet.bench.fewshot_methods import (
    DEFAULT_METHODS,
    FORCE_METHODS,
    LABEL,
    META_BASELINES,
    METHODS,
    FewShotModels,
    score,
)
from metalegnet.bench.fewshot_settings import Setting
from metalegnet.checkpoint import load_checkpoint
from metalegnet.config import atomic_write_text
from metalegnet.data.validate import validate_structures
from metalegnet.meta.adapt import held_out_rmse
from metalegnet.meta.config import MetaTrainConfig
from metalegnet.meta.tasks import Task, build_tasks, check_no_leak, matches
from metalegnet.meta.train import meta_train
from metalegnet.train.config import TrainConfig
from metalegnet.train.data import make_samples
from metalegnet.train.trainer import train


def _train_config(run: FewShotRun, setting: Setting, model: str = "legnet-vanilla",
                  model_config: dict | None = None, lr: float = 5e-3) -> TrainConfig:
    return TrainConfig(data=setting.name, task=setting.train_task, energy_target="adsorption",
                       model=model,
                       model_config=dict(run.model_config if model_config is None
                                         else model_config),
                       cutoff=run.cutoff, group_by=list(setting.group_by),
                       split_fractions=[0.85, 0.15, 0.0], epochs=run.pretrain_epochs,
                       batch_size=16, lr=lr, patience=0, seed=run.seed, num_threads=1,
                       drop_unlabelled=True, progress=False, checkpoint_interval_s=60.0)


def split_tasks(setting: Setting, samples) -> tuple[list[Task], dict[str, list[Task]]]:
    """Source tasks and, per target name, its target tasks (leak-checked)."""
    tasks = build_tasks(samples, setting.group_by, min_size=2)
    target = {name: [t for t in tasks if all(matches(s.atoms, where) for s in t.samples)]
              for name, where in setting.targets.items()}
    held = {id(t) for ts in target.values() for t in ts}
    source = [t for t in tasks if id(t) not in held
              and not any(matches(s.atoms, w) for s in t.samples
                          for w in setting.targets.values())]
    check_no_leak(source, [t for ts in target.values() for t in ts])
    return source, target


def _done_runs(folder: Path) -> bool:
    return (folder / "metrics.json").exists()


def prepare_models(run: FewShotRun, setting: Setting, source: list[Task], log,
                   methods: Sequence[str]) -> dict:
    """LegNet and every ``run.meta_baselines`` model, each pretrained and then meta-trained
    from its pretraining (reused when done); the LegNet's :class:`FewShotModels` carries the
    baselines' in ``baselines``."""
    out = _prepare(run, setting, source, log, run.out / "runs" / setting.name)
    if "meta-legnet-head" in methods:
        out["head_meta_train_s"] = _prepare_head(run, setting, source, log,
                                                 run.out / "runs" / setting.name,
                                                 out["models"])
    for name in run.meta_baselines:
        spec = META_BASELINES[name]
        b = _prepare(run, setting, source, log, run.out / "runs" / setting.name / name,
                     name, spec["model_config"], spec["lr"])
        out["models"].baselines[name] = b["models"]
        out[f"{name}_pretrain_s"], out[f"{name}_meta_train_s"] = (b["pretrain_s"],
                                                                  b["meta_train_s"])
    return out


def _meta_config(run: FewShotRun, setting: Setting, tc: TrainConfig, init: Path,
                 **extra) -> MetaTrainConfig:
    """The meta-training of every method: same pretraining, tasks, draws and budget
    (``s2f`` settings: first-order MAML on energies and forces, see :class:`Setting`)."""
    extra.setdefault("task", setting.train_task)
    if setting.task == "s2f" and extra.get("inner", "maml") == "maml":
        extra.setdefault("first_order", True)
    return MetaTrainConfig(data=setting.name, group_by=list(setting.group_by),
                           energy_target="adsorption", model=tc.model,
                           model_config=dict(tc.model_config), cutoff=run.cutoff,
                           init=str(init), support=5, query=10, meta_batch=4,
                           meta_steps=run.meta_steps, outer_lr=1e-3,
                           inner_steps=run.inner_steps, inner_lr=run.inner_lr,
                           min_task_size=2, seed=run.seed, checkpoint_every=10,
                           zero_shot_weight=run.zero_shot_weight,
                           progress=False, num_threads=1, **extra)


def _prepare_head(run: FewShotRun, setting: Setting, source: list[Task], log, folder: Path,
                  models: FewShotModels) -> float:
    """Meta-train LegNet through the ridge head from the same pretraining
    (``folder/meta_head``, on energies also in an s2f setting), attach it to ``models``
    and return its meta-training wall time (s)."""
    structures = [s.atoms for t in source for s in t.samples]
    meta = folder / "meta_head"
    if not _done_runs(meta):
        log(f"[{setting.name}] meta-training LegNet through the ridge head "
            f"({run.meta_steps} steps, {len(source)} source tasks)")
        mc = _meta_config(run, setting, _train_config(run, setting),
                          folder / "pretrain" / "checkpoint.pt", inner="ridge-head",
                          task="s2e")
        meta_train(mc, meta, resume=(meta / "last.pt").exists(), structures=structures,
                   log=lambda *_: None)
    models.head_meta, payload = load_checkpoint(meta / "checkpoint.pt")
    info = payload["metadata"]["meta"]
    models.head_lambda = float(info["head_lambda"])
    models.head_small_support_choice = (info.get("small_support") or {}).get("choice")
    return float(json.loads((meta / "metrics.json").read_text())["train_time_s"])


def _prepare(run: FewShotRun, setting: Setting, source: list[Task], log, folder: Path,
             model: str = "legnet-vanilla", model_config: dict | None = None,
             lr: float = 5e-3) -> dict:
    """Pretrain ``model`` in ``folder/pretrain``, meta-train it in ``folder/meta``."""
    structures = [s.atoms for t in source for s in t.samples]
    tc = _train_config(run, setting, model, model_config, lr)
    pre = folder / "pretrain"
    if not _done_runs(pre):
        log(f"[{setting.name}] pretraining {model} on {len(structures)} source structures")
        train(tc, pre, resume=(pre / "last.pt").exists(), structures=structures,
              log=lambda *_: None)
    meta = folder / "meta"
    if not _done_runs(meta):
        log(f"[{setting.name}] meta-training {model} ({run.meta_steps} MAML steps, "
            f"{len(source)} source tasks)")
        mc = _meta_config(run, setting, tc, pre / "checkpoint.pt", meta_sgd=True)
        meta_train(mc, meta, resume=(meta / "last.pt").exists(), structures=structures,
                   log=lambda *_: None)
    pretrained, pre_payload = load_checkpoint(pre / "checkpoint.pt")
    meta_model, payload = load_checkpoint(meta / "checkpoint.pt")
    lrs = payload.get("inner_lrs") or run.inner_lr
    pre_metrics = json.loads((pre / "metrics.json").read_text())
    meta_metrics = json.loads((meta / "metrics.json").read_text())
    models = FewShotModels(pretrained=pretrained, meta=meta_model, inner_lr=lrs,
                           inner_steps=run.inner_steps,
                           small_support_choice=((payload["metadata"]["meta"]
                                                  .get("small_support") or {})
                                                 .get("choice")),
                           k1_noise=(held_out_rmse(payload["metadata"])
                                     or held_out_rmse(pre_payload["metadata"])),
                           sigma_energy=float(pre_payload["metadata"]["loss_scales"]
                                              ["sigma_energy"]),
                           use_forces=setting.task == "s2f",
                           sigma_forces=float(pre_payload["metadata"]["loss_scales"]
                                              .get("sigma_forces", 1.0)))
    return {"models": models, "pretrain_s": float(pre_metrics["train_time_s"]),
            "meta_train_s": float(meta_metrics["train_time_s"]),
            "pretrain_val_mae": pre_metrics.get("val", {}).get("energy_mae")}


def _read_partial(path: Path) -> list[dict]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:  # a line cut by a kill
            continue
    return out


def _write(run: FewShotRun, records: list[dict], cost: dict, notes: list[str]) -> None:
    from metalegnet.bench.accuracy import cpu_name, machine

    results = {"command": run.command, "machine": machine(), "cpu": cpu_name(),
               "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
               "units": {"mae": "eV (adsorption energy) on s2e rows, eV/Å (forces on the "
                         "free atoms) on s2f rows, eV (relaxed adsorption energy from the "
                         "initial structure) on is2re rows"}, "ks": run.ks,
               "draws": run.draws, "rows": summarize(records), "cost": cost,
               "notes": notes}
    atomic_write_text(run.out / "results.json", json.dumps(results, indent=1))
    atomic_write_text(run.out / "results.md", markdown(results))


def run_fewshot(run: FewShotRun, settings: Sequence[Setting], log=print) -> Path:
    torch.set_num_threads(1)
    run.out.mkdir(parents=True, exist_ok=True)
    partial = run.out / "partial.jsonl"
    records = _read_partial(partial)
    done = {(r["target"], r["k"], r["draw"], r["method"]) for r in records}
    default = DEFAULT_METHODS + [f"meta-{b}" for b in run.meta_baselines]
    cost_path = run.out / "cost.json"
    cost = json.loads(cost_path.read_text()) if cost_path.exists() else {}
    notes: list[str] = []
    for setting in settings:
        methods = run.methods or default
        if setting.task == "s2f":  # only what gives forces, and the zero-force reference
            methods = [m for m in (run.methods or FORCE_METHODS) if m in FORCE_METHODS]
        structures = setting.structures()
        tc = _train_config(run, setting)
        validate_structures(structures)
        samples, _ = make_samples(structures, tc)
        source, target_tasks = split_tasks(setting, samples)
        prepared = prepare_models(run, setting, source, log, methods)
        m = prepared["models"]
        c = cost.setdefault(setting.name, {})
        c.update({k: v for k, v in prepared.items() if k != "models"})
        c["source_tasks"] = len(source)
        for name, tasks in target_tasks.items():
            pool = [s for t in tasks for s in t.samples]
            for k in run.ks:
                if len(pool) < k + MIN_QUERY:
                    notes.append(f"{name}: k={k} skipped ({len(pool)} structures, fewer "
                                 f"than k + {MIN_QUERY})")
                    continue
                for draw in range(run.draws):
                    rng = np.random.default_rng([run.seed, k, draw, len(pool)])
                    order = rng.permutation(len(pool))
                    support = [pool[i] for i in order[:k]]
                    query = [pool[i] for i in order[k:]]
                    for method in methods:
                        if (name, k, draw, method) in done:
                            continue
                        t0 = time.perf_counter()
                        pred, info = METHODS[method](m, support, query, draw)
                        rec = {"setting": setting.name, "task": setting.task,
                               "target": name, "k": k,
                               "draw": draw, "method": method, "n_query": len(query),
                               "mae": score(pred, query, setting.task),
                               "seconds": time.perf_counter() - t0, **info}
                        records.append(rec)
                        with open(partial, "a") as fh:
                            fh.write(json.dumps(rec) + "\n")
                log(f"[{name}] k={k}: done {run.draws} draws")
                _finish_cost(cost, records)
                atomic_write_text(cost_path, json.dumps(cost, indent=1))
                _write(run, records, cost, notes)
    _finish_cost(cost, records)
    atomic_write_text(cost_path, json.dumps(cost, indent=1))
    _write(run, records, cost, notes)
    return run.out


def _finish_cost(cost: dict, records: list[dict]) -> None:
    for name, c in cost.items():
        for method, key in (("meta-legnet", "adapt_s"), ("fine-tuned-legnet", "finetune_s"),
                            ("meta-legnet-head", "head_adapt_s")):
            secs = [r["seconds"] for r in records
                    if r["setting"] == name and r["method"] == method]
            if secs:
                c[key] = float(np.mean(secs))


__all__ = ["LABEL", "run_fewshot", "split_tasks"]
