"""``metalegnet bench accuracy``: argument parsing only (the work is in
:mod:`metalegnet.bench.accuracy` and :mod:`metalegnet.bench.tune`).

    metalegnet bench accuracy --suite quick|full --out DIR [--jobs N] [--seeds K]
        [--models a,b] [--rows r1,r2] [--generated DIR] [--no-generate] [--hparams FILE]
    metalegnet bench accuracy --suite quick --tune [--lr-grid 1e-3,3e-3] [--tune-row KEY]
"""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path

from metalegnet.errors import ConfigError

#: Modules with ``register(bench_subparsers)`` for ``bench fewshot`` and ``bench seam``.
_OTHER_BENCHES = ("metalegnet.bench.fewshot", "metalegnet.bench.seam")


def register(subparsers) -> None:
    """Add ``bench`` with its ``accuracy`` sub-command."""
    bench = subparsers.add_parser("bench", help="benchmarks: accuracy of LegNet vs baselines")
    bsub = bench.add_subparsers(dest="bench_command", metavar="BENCH_COMMAND", required=True)
    p = bsub.add_parser(
        "accuracy", help="train every model on every row of a suite and tabulate test MAEs",
        description="Train LegNet, its ablations and the library baselines on every row "
        "(task x data set) of a suite with the same budget per row, over seeds; write "
        "DIR/results.json, DIR/results.md (mean ± std test MAE, best in bold, LegNet vs best "
        "baseline, cost) and DIR/plots/*.png. With --tune, choose each model's learning rate "
        "on validation instead and record it in metalegnet/bench/configs/bench_<suite>.yaml.")
    p.add_argument("--suite", choices=("quick", "full", "large"), default="quick",
                   help="quick: 2 CPU cores, < 45 min with --jobs 2; full: the published "
                        "table (its 10 rows on the real sets and bench-3d-ml took 11.5 "
                        "CPU-hours, ~6 h with --jobs 2; the generated EMT rows come on top; "
                        "resumable, --rows picks rows); "
                        "large: GPU scale")
    p.add_argument("--out", metavar="DIR", help="output folder (required unless --tune)")
    p.add_argument("--jobs", type=int, default=1, help="parallel runs, 1 torch thread each")
    p.add_argument("--seeds", type=int, help="number of seeds 0..K-1 (default: the suite's)")
    p.add_argument("--models", help="comma-separated subset of the suite's models")
    p.add_argument("--rows", help="comma-separated rows (dataset:task, e.g. oc20-mini:s2e) or "
                   "data sets (all their tasks)")
    p.add_argument("--epochs", type=int, help="train every row for this many epochs instead "
                   "of the suite's (still the same for every model; for smoke checks)")
    p.add_argument("--generated", metavar="DIR", help="folder of generated recipes "
                   "(DIR/bench-0d, ...; default ~/.cache/metalegnet/bench-data or "
                   "$METALEGNET_BENCH_DATA)")
    p.add_argument("--no-generate", action="store_true",
                   help="do not generate missing bench-0d/bench-3d (their rows say "
                        "'not generated')")
    p.add_argument("--hparams", metavar="FILE.yaml", help="per-model learning rates and sizes "
                   "(default metalegnet/bench/configs/bench_<suite>.yaml in the package when "
                   "it exists, else built-in)")
    p.add_argument("--no-zero-shot", action="store_true",
                   help="leave out the SevenNet-0 zero-shot column (oc20-mini S2F, gamenet-fg)")
    p.add_argument("--keep-runs", action="store_true",
                   help="keep every run folder (checkpoints, logs) under DIR/runs")
    p.add_argument("--report-only", action="store_true",
                   help="train nothing: rewrite DIR/results.* from the runs stored in "
                        "DIR/runs.jsonl (a (row, model) missing seeds is left out and named)")
    p.add_argument("--tune", action="store_true",
                   help="tune each model's learning rate on the validation split of seed 0 of "
                        "one row and write it to --hparams (default "
                        "metalegnet/bench/configs/bench_<suite>.yaml); no benchmark")
    p.add_argument("--lr-grid", help="comma-separated learning rates for --tune")
    p.add_argument("--tune-row", help="row used by --tune (default: the suite's)")
    p.set_defaults(func=run)
    for name in _OTHER_BENCHES:  # further benchmarks register themselves (optional parts)
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name and name.startswith(exc.name):
                continue
            raise
        module.register(bsub)


def _split(text: str | None) -> list[str]:
    return [t.strip() for t in (text or "").split(",") if t.strip()]


def _command(args: argparse.Namespace) -> str:
    parts = ["metalegnet bench accuracy", f"--suite {args.suite}"]
    for flag, value in (("--out", args.out), ("--jobs", args.jobs), ("--seeds", args.seeds),
                        ("--epochs", args.epochs),
                        ("--models", args.models), ("--rows", args.rows),
                        ("--generated", args.generated), ("--hparams", args.hparams)):
        if value is not None:
            parts.append(f"{flag} {value}")
    parts += [f for f, on in (("--no-generate", args.no_generate),
                              ("--no-zero-shot", args.no_zero_shot),
                              ("--keep-runs", args.keep_runs),
                              ("--report-only", args.report_only)) if on]
    return " ".join(parts)


def run(args: argparse.Namespace) -> int:
    """Entry point of ``metalegnet bench accuracy``; returns the exit code."""
    from metalegnet.bench.accuracy import AccuracyRun, run_accuracy
    from metalegnet.bench.datasets import DEFAULT_GENERATED
    from metalegnet.bench.hparams import apply_hparams, default_path, load_hparams, save_hparams
    from metalegnet.bench.suites import get_suite

    if args.jobs < 1:
        raise ConfigError(f"--jobs must be >= 1, got {args.jobs}")
    suite = get_suite(args.suite)
    hp_path = Path(args.hparams) if args.hparams else default_path(suite.name)
    source = "built-in defaults (src/metalegnet/bench/suites.py)"
    if hp_path.exists():
        suite = apply_hparams(suite, load_hparams(hp_path))
        source = str(hp_path) if args.hparams else \
            f"metalegnet/bench/configs/{hp_path.name} (in the package)"
    elif args.hparams and not args.tune:
        raise FileNotFoundError(2, "no such file", str(hp_path))
    base = suite
    suite = suite.select(_split(args.rows), _split(args.models))
    if args.epochs is not None:
        suite = suite.with_epochs(args.epochs)
    generated = Path(args.generated) if args.generated else DEFAULT_GENERATED
    if args.tune:
        from metalegnet.bench.tune import tune

        grid = [float(x) for x in _split(args.lr_grid)] or None
        tuned, record = tune(suite, generated, args.jobs, grid, args.tune_row,
                             not args.no_generate)
        full = apply_hparams(base, {"models": {
            m.name: {"lr": m.lr, "model_config": m.model_config} for m in tuned.models}})
        path = save_hparams(full, hp_path, record)
        print(f"wrote {path}")
        return 0
    if not args.out:
        raise ConfigError("--out DIR is required (or --tune)")
    if args.seeds is not None and args.seeds < 1:
        raise ConfigError(f"--seeds must be >= 1, got {args.seeds}")
    seeds = list(range(args.seeds or suite.seeds))
    run_cfg = AccuracyRun(suite=suite, out=Path(args.out), seeds=seeds, jobs=args.jobs,
                          generated=generated,
                          make_missing=not (args.no_generate or args.report_only),
                          keep_runs=args.keep_runs, command=_command(args), hparams=source,
                          zero_shot=not args.no_zero_shot, report_only=args.report_only)
    out = run_accuracy(run_cfg)
    print(f"wrote {out}/results.json, {out}/results.md and {out}/plots/")
    return 0
