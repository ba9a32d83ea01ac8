"""``metalegnet bench fewshot``: the few-shot table (the paper's Table 2 analogue).

For every setting (:mod:`metalegnet.bench.fewshot_settings`): pretrain LegNet on the source
tasks (``metalegnet train``), meta-train it with MAML from that pretraining (``metalegnet
meta-train``), then for every target task, k in ``ks`` and ``draws`` random support draws
(the query set is the rest of the task) score every method of
:mod:`metalegnet.bench.fewshot_methods` on the same draws: query MAE of the adsorption
energy (eV), mean ± std over draws.

Resumable: finished pretraining / meta-training runs are reused (a killed one resumes from
its ``last.pt``) and every (target, k, draw, method) result is appended to
``DIR/partial.jsonl`` as it is done; ``results.json`` and ``results.md`` are rewritten after
every row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from metalegnet.errors import ConfigError

DEFAULT_KS = (1, 5, 10, 20)
#: methods whose adaptation choice (zero-shot, steps, ridge strength) the table reports
CHOICE_METHODS = {"meta-legnet": "meta_legnet_choices",
                  "meta-legnet-1se": "meta_legnet_1se_choices",
                  "meta-legnet-head": "meta_legnet_head_choices"}
MIN_QUERY = 10


@dataclass
class FewShotRun:
    out: Path
    settings: list[str] = field(default_factory=lambda: ["wwl-alloys", "xu-kitchin"])
    ks: list[int] = field(default_factory=lambda: list(DEFAULT_KS))
    draws: int = 10
    seed: int = 0
    pretrain_epochs: int = 15
    meta_steps: int = 60
    methods: list[str] | None = None
    model_config: dict = field(default_factory=lambda: {"num_features": 16, "num_blocks": 2})
    cutoff: float = 5.0
    inner_steps: int = 2
    inner_lr: float = 0.005
    meta_baselines: list[str] = field(default_factory=list)
    zero_shot_weight: float = 1.0
    command: str = ""


def register(bench_subparsers) -> None:
    p = bench_subparsers.add_parser(
        "fewshot", help="few-shot adaptation table: meta-LegNet vs fine-tuning, ridge, "
        "scratch and zero-shot on held-out real targets",
        description="Pretrain and meta-train on source tasks, then adapt to held-out target "
        "tasks with k support structures (same draws for every method); write "
        "DIR/results.json and DIR/results.md. Resumable: rerun the same command.")
    p.add_argument("--out", metavar="DIR", required=True)
    p.add_argument("--settings", help="comma-separated: wwl-alloys, xu-kitchin, gamenet-fg, "
                   "bench-3d-ml, fewshot-3d-ml (S2F), fewshot-0d-ml (S2F), fewshot-2d-ml "
                   "(IS2RE) (default wwl-alloys,xu-kitchin)")
    p.add_argument("--ks", help="support sizes (default 1,5,10,20)")
    p.add_argument("--draws", type=int, default=10, help="support draws per target and k")
    p.add_argument("--pretrain-epochs", type=int, default=15)
    p.add_argument("--meta-steps", type=int, default=60)
    p.add_argument("--methods", help="comma-separated subset of the methods")
    p.add_argument("--meta-baselines", help="comma-separated baselines to pretrain, "
                   "meta-train and adapt the same way (schnet, cgcnn, painn): the "
                   "meta-<name> columns")
    p.add_argument("--zero-shot-weight", type=float, default=1.0,
                   help="meta-training's weight of the unadapted model's query loss "
                   "(0: eq. 25 as published, as in the earlier tables)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run)


def _ints(text: str, flag: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ConfigError(f"{flag} {text!r}: expected integers like 1,5,10") from None


def run(args) -> int:
    from metalegnet.bench.fewshot_methods import META_BASELINES, METHODS
    from metalegnet.bench.fewshot_settings import SETTINGS

    settings = [s.strip() for s in (args.settings or "wwl-alloys,xu-kitchin").split(",")
                if s.strip()]
    bad = [s for s in settings if s not in SETTINGS]
    if bad:
        raise ConfigError(f"unknown setting(s) {', '.join(bad)}; choose from "
                          f"{', '.join(SETTINGS)}")
    methods = [m.strip() for m in args.methods.split(",")] if args.methods else None
    if methods and any(m not in METHODS for m in methods):
        raise ConfigError(f"--methods: choose from {', '.join(METHODS)}")
    baselines = [b.strip() for b in (args.meta_baselines or "").split(",") if b.strip()]
    if any(b not in META_BASELINES for b in baselines):
        raise ConfigError(f"--meta-baselines: choose from {', '.join(META_BASELINES)}")
    if methods and any(m.removeprefix("meta-") in META_BASELINES
                       and m.removeprefix("meta-") not in baselines for m in methods):
        raise ConfigError("--methods: a meta-<baseline> method needs that baseline in "
                          "--meta-baselines")
    ks = _ints(args.ks, "--ks") if args.ks else list(DEFAULT_KS)
    if not args.zero_shot_weight >= 0:
        raise ConfigError(f"--zero-shot-weight must be >= 0, got {args.zero_shot_weight}")
    if not ks or any(k < 1 for k in ks) or args.draws < 1:
        raise ConfigError("--ks needs values >= 1 and --draws >= 1")
    parts = ["metalegnet bench fewshot", f"--out {args.out}"]
    for flag, value in (("--settings", args.settings), ("--ks", args.ks),
                        ("--draws", args.draws), ("--pretrain-epochs", args.pretrain_epochs),
                        ("--meta-steps", args.meta_steps), ("--methods", args.methods),
                        ("--meta-baselines", args.meta_baselines),
                        ("--zero-shot-weight", args.zero_shot_weight), ("--seed", args.seed)):
        if value is not None:
            parts.append(f"{flag} {value}")
    cfg = FewShotRun(out=Path(args.out), settings=settings, ks=ks, draws=args.draws,
                     seed=args.seed, pretrain_epochs=args.pretrain_epochs,
                     meta_steps=args.meta_steps, methods=methods,
                     meta_baselines=baselines, zero_shot_weight=args.zero_shot_weight,
                     command=" ".join(parts))
    from metalegnet.bench.fewshot_run import run_fewshot

    run_fewshot(cfg, [SETTINGS[s] for s in settings])
    print(f"wrote {cfg.out}/results.json and {cfg.out}/results.md")
    return 0


def summarize(records: list[dict]) -> list[dict]:
    """One row per (target, k): mean ± std query MAE per method over draws."""
    rows: dict[tuple, dict] = {}
    for r in records:
        row = rows.setdefault((r["target"], r["k"]), {"target": r["target"], "k": r["k"],
                                                      "setting": r["setting"],
                                                      "task": r.get("task", "s2e"),
                                                      "n_query": r["n_query"], "_m": {}})
        row["_m"].setdefault(r["method"], []).append(r)
    out = []
    for row in rows.values():
        models, choices = {}, {m: {} for m in CHOICE_METHODS}
        for method, recs in row.pop("_m").items():
            mae = np.asarray([x["mae"] for x in recs])
            models[method] = {"mae_mean": float(mae.mean()), "mae_std": float(mae.std()),
                              "n_draws": len(recs),
                              "seconds_mean": float(np.mean([x["seconds"] for x in recs]))}
            if method in CHOICE_METHODS:
                for x in recs:
                    c = x.get("choice", "")
                    choices[method][c] = choices[method].get(c, 0) + 1
        row["models"] = models
        for method, key in CHOICE_METHODS.items():
            if choices[method]:
                row[key] = choices[method]
        out.append(row)
    return out


def markdown(results: dict) -> str:
    rows = results["rows"]
    from metalegnet.bench.fewshot_methods import METHODS

    seen = {m for r in rows for m in r["models"]}
    methods = [m for m in METHODS if m in seen] + sorted(seen - set(METHODS))
    lines = ["# Few-shot adaptation (query MAE: adsorption energy in eV; forces on the free "
             "atoms in eV/Å on the rows marked S2F; the relaxed adsorption energy from the "
             "initial structure, in eV, on the rows marked IS2RE)", "",
             f"Command: `{results['command']}`  ", f"Machine: {results['machine']}  ",
             f"Date: {results['date']}", "",
             "Mean ± std over support draws (the query set is the rest of the target task; "
             "the same draws for every method). Lowest mean in bold.", "",
             "| target | k | " + " | ".join(methods) + " |",
             "|---|---|" + "---|" * len(methods)]
    for r in rows:
        best = min(v["mae_mean"] for v in r["models"].values())
        cells = []
        for m in methods:
            v = r["models"].get(m)
            if v is None:
                cells.append("")
                continue
            digits = 4 if r.get("task") == "s2f" else 3  # forces: eV/Å, small
            txt = f"{v['mae_mean']:.{digits}f} ± {v['mae_std']:.{digits}f}"
            cells.append(f"**{txt}**" if v["mae_mean"] == best else txt)
        target = r["target"] + {"s2f": " (S2F, eV/Å)", "is2re": " (IS2RE, eV)"}.get(
            r.get("task"), "")
        lines.append(f"| {target} | {r['k']} | " + " | ".join(cells) + " |")
    for method, key in CHOICE_METHODS.items():
        if any(r.get(key) for r in rows):
            lines += ["", f"{method}'s cross-validated choice per row (draws): " + "; ".join(
                f"{r['target']} k={r['k']}: " + ", ".join(
                    f"{c} x{n}" for c, n in sorted(r[key].items()))
                for r in rows if r.get(key))]
    lines += ["", "## Cost (CPU seconds, wall)", ""]
    nan = float("nan")
    lines.append("| setting | pretraining (s) | meta-training (s) | meta / pretraining | "
                 "ridge-head meta-training (s) | adaptation per task, meta-legnet (s) | "
                 "adaptation per task, meta-legnet-head (s) | fine-tuning per task (s) |")
    lines.append("|---|---|---|---|---|---|---|---|")
    for name, c in results.get("cost", {}).items():
        ratio = (c["meta_train_s"] / c["pretrain_s"]) if c.get("pretrain_s") else nan
        lines.append(f"| {name} | {c['pretrain_s']:.0f} | {c['meta_train_s']:.0f} | "
                     f"{ratio:.2f} | {c.get('head_meta_train_s', nan):.0f} | "
                     f"{c.get('adapt_s', nan):.2f} | {c.get('head_adapt_s', nan):.2f} | "
                     f"{c.get('finetune_s', nan):.2f} |")
    for note in results.get("notes", []):
        lines += ["", note]
    return "\n".join(lines) + "\n"
