"""``metalegnet bench accuracy``: every model on every row of a suite, over seeds.

Same budget for every model: on a row, every model trains with the same maximum epochs and
early-stopping patience on validation, batch size, frame subset, split (set by the seed),
cutoff, schedule (AdamW, warm-up + cosine), EMA and best-on-validation checkpoint; models
differ only in size and learning rate (``metalegnet/bench/configs/bench_<suite>.yaml``). Runs
go to a pool of ``jobs`` processes, each on 1 torch thread. The seed sets the split *and* the
initialisation, so the spread includes split variance. Every finished run is kept in
``DIR/runs.jsonl`` as it ends, so a killed suite resumes (:mod:`metalegnet.bench.store`).
Output: ``results.json``, ``results.md`` and ``plots/`` (see :mod:`metalegnet.bench.report`).
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing as mp
import os
import platform
import shutil
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from metalegnet.bench import uip
from metalegnet.bench.datasets import DEFAULT_GENERATED, DataSource, resolve
from metalegnet.bench.jobs import Job, JobResult, run_job
from metalegnet.bench.report import write_report
from metalegnet.bench.results import Cell, RowResult, column_order, gather
from metalegnet.bench.store import RunStore, config_hash
from metalegnet.bench.suites import LEGNET, BenchRow, ModelSpec, Suite
from metalegnet.config import atomic_write_text
from metalegnet.threads import single_threaded_children

BUDGET = ("the same maximum epochs and early-stopping patience per row for every model (and "
          "the same batch size, frames, split, cutoff, schedule, EMA and best-on-validation "
          "checkpoint); models differ only in size and learning rate")


@dataclass
class AccuracyRun:
    """Settings of one ``bench accuracy`` run.

    Attributes:
        suite: the suite, already restricted to the chosen rows/models, hyperparameters applied.
        out: output folder.
        seeds: seeds to run (each sets split and initialisation).
        jobs: worker processes (1: in this process).
        generated: folder of generated recipes (``<generated>/bench-0d``, ...).
        make_missing: generate bench-0d / bench-3d with EMT when missing.
        keep_runs: keep every run folder under ``out/runs`` (checkpoints, logs).
        command: the command line, for the header; hparams: where the hyperparameters came from.
        zero_shot: add the SevenNet-0 zero-shot column where it applies and sevenn is
            installed (:mod:`metalegnet.bench.uip`).
        report_only: train nothing: write the report from the runs already in
            ``out/runs.jsonl`` (and the zero-shot values already in ``out/zero_shot.json``);
            a (row, model) without every seed is left out and listed in the notes.
    """

    suite: Suite
    out: Path
    seeds: list[int]
    jobs: int = 1
    generated: Path = DEFAULT_GENERATED
    make_missing: bool = True
    keep_runs: bool = False
    command: str = ""
    hparams: str = "built-in defaults"
    extra_notes: list[str] = field(default_factory=list)
    zero_shot: bool = True
    report_only: bool = False


def check_models(suite: Suite) -> dict[str, str]:
    """Baselines of ``suite`` that cannot be built here -> why (one line each)."""
    from metalegnet.model.baselines import BaselineUnavailableError, build_baseline

    reasons = {}
    cutoff = float(suite.train["cutoff"])
    for spec in suite.models:
        if spec.kind != "baseline":
            continue
        try:
            build_baseline(spec.name, {**spec.model_config, "cutoff": cutoff})
        except BaselineUnavailableError as exc:
            reasons[spec.name] = str(exc)
    return reasons


def train_config(suite: Suite, row: BenchRow, spec: ModelSpec, seed: int, source: str
                 ) -> dict[str, Any]:
    """The complete TrainConfig dict of one run (row budget + suite recipe + model spec)."""
    return {**suite.train, **row.train_settings(), "data": source, "model": spec.name,
            "model_config": dict(spec.model_config), "lr": spec.lr, "seed": seed,
            "split_seed": seed, "num_threads": 1, "progress": False, "checkpoint_every": 0,
            "checkpoint_interval_s": 1e9}


def make_jobs(run: AccuracyRun, sources: dict[str, DataSource], unavailable: dict[str, str],
              runs_dir: Path) -> list[Job]:
    """One job per (row, model, seed) whose data and model are available; the first seed
    also records predictions and cost."""
    jobs = []
    for row in run.suite.rows:
        src = sources[row.dataset]
        if not src.available:
            continue
        for seed in run.seeds:
            for spec in run.suite.models:
                if spec.name in unavailable:
                    continue
                folder = runs_dir / row.key.replace(":", "_") / spec.name / f"seed{seed}"
                jobs.append(Job(row.key, spec.name, seed, row.metric,
                                train_config(run.suite, row, spec, seed, src.source),
                                str(folder), detail=seed == run.seeds[0],
                                cost_structures=run.suite.cost_structures,
                                keep=run.keep_runs))
    return jobs


def _single_threaded_env():
    """Spawned workers start with one BLAS/OpenMP thread (2 workers x 2 threads on 2 cores
    is much slower than 2 x 1)."""
    return single_threaded_children(force=True)


def execute(jobs: list[Job], workers: int, log: Callable[[str], None],
            split: str = "test", store: RunStore | None = None) -> list[JobResult]:
    """Run ``jobs`` (in ``workers`` spawned processes when > 1), logging each as it ends
    with its ``split`` (``test`` or ``val``) MAE. With ``store``, runs finished before
    (same configuration) are taken from it and each new one is kept as it ends."""
    t0 = time.perf_counter()
    results: list[JobResult] = []
    if store is not None:
        kept = [(j, store.get(j)) for j in jobs]
        results = [r for _, r in kept if r is not None]
        jobs = [j for j, r in kept if r is None]
        if results:
            log(f"resuming: {len(results)} finished run(s) kept in {store.path}, "
                f"{len(jobs)} to run")
    by_id, total = {id(j): j for j in jobs}, len(results) + len(jobs)

    def done(res: JobResult, job: Job | None = None) -> None:
        results.append(res)
        if store is not None and job is not None:
            store.add(job, res)
        mae = res.test_mae if split == "test" else res.val_mae
        what = f"failed: {res.error}" if res.error else f"{split} MAE {mae:.4f}"
        tag = f" [{res.tag}]" if res.tag else ""
        log(f"[{len(results)}/{total} {time.perf_counter() - t0:.0f} s] {res.row} "
            f"{res.model}{tag} seed {res.seed}: {what} ({res.epochs} epochs, {res.seconds} s)")

    if workers <= 1:
        for job in jobs:
            done(run_job(job), job)
        return results
    with _single_threaded_env(), ProcessPoolExecutor(
            max_workers=workers, mp_context=mp.get_context("spawn")) as pool:
        futures = {pool.submit(run_job, j): id(j) for j in jobs}
        for fut in as_completed(futures):
            done(fut.result(), by_id[futures[fut]])
    return results


def cpu_name() -> str:
    """The CPU model from ``/proc/cpuinfo`` (else what ``platform`` knows)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def machine() -> str:
    """CPU model, cores, OS, Python and torch (and the GPU when one is visible)."""
    import torch

    text = (f"{cpu_name()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}, torch {torch.__version__}")
    if torch.cuda.is_available():
        text += f", GPU {torch.cuda.get_device_name(0)}"
    return text


def header(run: AccuracyRun, sources: dict[str, DataSource], unavailable: dict[str, str],
           wall_s: float) -> dict[str, Any]:
    """The run's metadata (top of ``results.json``)."""
    s = run.suite
    return {"suite": s.name, "description": s.description, "command": run.command,
            "machine": machine(), "date": datetime.now(timezone.utc).isoformat(
                timespec="seconds"), "seeds": list(run.seeds), "jobs": run.jobs,
            "threads_per_job": 1, "wall_time_s": round(wall_s, 1), "budget": BUDGET,
            "hyperparameters": run.hparams,
            "models": {m.name: {"lr": m.lr, "model_config": m.model_config}
                       for m in s.models},
            "train": dict(s.train), "skipped": dict(s.skipped), "unavailable": unavailable,
            "data": {k: v.note for k, v in sources.items()},
            "mae": "test-set MAE; mae_mean over seeds, mae_std the sample std (ddof 1)",
            "legnet_vs_best_baseline": "MAE(legnet) / MAE(best library baseline); < 1: "
                                       "LegNet better"}


def intro(head: dict[str, Any], unavailable: dict[str, str]) -> list[str]:
    """The Markdown header: command, machine, date, suite, seeds, budget, exclusions."""
    lines = [f"# Accuracy benchmark, suite `{head['suite']}`", "",
             f"- Command: `{head['command']}`",
             f"- Machine: {head['machine']}; {head['jobs']} parallel run(s), 1 torch thread "
             "each",
             f"- Date: {head['date']}; wall time {head['wall_time_s'] / 60:.1f} min",
             f"- Suite: {head['description']}",
             f"- Seeds: {head['seeds']} (a seed sets the split and the initialisation)",
             f"- Budget: {head['budget']}. Training recipe: "
             + ", ".join(f"{k} {v}" for k, v in head["train"].items()),
             f"- Hyperparameters: {head['hyperparameters']}",
             "- Cells: test-set MAE, mean ± sample std over seeds (eV, or eV/Å for "
             "forces: per Cartesian component of the free atoms); lowest mean per line in "
             "bold (trivial references included). LegNet vs best baseline: ratio "
             "MAE(LegNet) / MAE(best library baseline on that line), < 1 means LegNet is "
             "better. The training-set mean and the per-element linear fit are fitted on the "
             "training split of the same seed."]
    for name, why in head["skipped"].items():
        lines.append(f"- Not in this suite: {name}: {why}")
    for name, why in unavailable.items():
        lines.append(f"- Cannot run here: {name}: {why}")
    return lines


def zero_shot_columns(run: AccuracyRun, sources: dict[str, DataSource],
                      log: Callable[[str], None]) -> dict[str, list[float]]:
    """SevenNet-0 zero-shot MAE per seed on the rows :mod:`metalegnet.bench.uip` covers
    (kept in ``OUT/zero_shot.json`` as computed, so a resumed suite reuses them)."""
    keys = [r for r in run.suite.rows if r.key in uip.ROWS and sources[r.dataset].available]
    if not run.zero_shot or not keys or uip.available() is not None:
        return {}
    from metalegnet.bench.jobs import structures_of

    path = run.out / "zero_shot.json"
    cache = json.loads(path.read_text()) if path.exists() else {}
    model, out = None, {}
    spec = run.suite.models[0]
    for row in keys:
        values = []
        for seed in run.seeds:
            cfg = train_config(run.suite, row, spec, seed, sources[row.dataset].source)
            tag = f"{row.key}|{seed}|" + config_hash(cfg, drop=("model", "model_config", "lr"))
            if tag not in cache and run.report_only:
                break
            if tag not in cache:
                model = model or uip.ZeroShot()
                log(f"SevenNet-0 zero-shot on {row.key} seed {seed} ...")
                cache[tag] = uip.zero_shot_column(row.key, [cfg], model, structures_of)[0]
                run.out.mkdir(parents=True, exist_ok=True)
                atomic_write_text(path, json.dumps(cache, indent=1) + "\n")
            values.append(cache[tag])
        if len(values) == len(run.seeds):
            out[row.key] = values
    return out


def stored_results(run: AccuracyRun, jobs: list[Job], store: RunStore,
                   log: Callable[[str], None]) -> list[JobResult]:
    """The stored results of ``jobs`` (``report_only``): whole (row, model) pairs only, the
    others named in ``run.extra_notes``."""
    found: dict[tuple[str, str], list[JobResult]] = {}
    for job in jobs:
        res = store.get(job)
        found.setdefault((job.row, job.model), [])
        if res is not None:
            found[(job.row, job.model)].append(res)
    whole = {k: v for k, v in found.items() if len(v) == len(run.seeds)}
    partial = [f"{row} {model} ({len(v)} of {len(run.seeds)} seeds)"
               for (row, model), v in found.items() if len(v) < len(run.seeds)]
    if partial:
        run.extra_notes.append("- Not run yet, so left out of this report (written with "
                               "--report-only from runs.jsonl): " + "; ".join(partial) + ".")
    log(f"report only: {sum(map(len, whole.values()))} stored runs of {len(jobs)}; "
        f"{len(partial)} (row, model) pair(s) incomplete, left out")
    return [r for v in whole.values() for r in v]


def run_accuracy(run: AccuracyRun, log: Callable[[str], None] = print) -> Path:
    """Run the benchmark and write the report; returns the output folder."""
    t0 = time.perf_counter()
    # a report trains nothing: stored runs of a model whose library is missing here count
    unavailable = {} if run.report_only else check_models(run.suite)
    sources = {d: resolve(d, run.generated, run.make_missing, run.jobs, log)
               for d in dict.fromkeys(r.dataset for r in run.suite.rows)}
    runs_dir = run.out / "runs" if run.keep_runs else Path(tempfile.mkdtemp(prefix="bench_"))
    try:
        jobs = make_jobs(run, sources, unavailable, runs_dir)
        log(f"bench accuracy: {len(jobs)} runs ({len(run.suite.rows)} rows x "
            f"{len(run.suite.models) - len(unavailable)} models x {len(run.seeds)} seeds) on "
            f"{run.jobs} process(es)")
        if run.report_only:
            results = stored_results(run, jobs, RunStore(run.out), log)
        else:
            results = execute(jobs, run.jobs, log, store=RunStore(run.out))
    finally:
        if not run.keep_runs:
            shutil.rmtree(runs_dir, ignore_errors=True)
    zero_shot = zero_shot_columns(run, sources, log)
    rows = []
    for row in run.suite.rows:
        src = sources[row.dataset]
        if not src.available:
            rows.append(RowResult(row, "not generated", src.note))
            continue
        res = gather(run.suite, row, results, unavailable)
        res.note = src.note
        if row.key in zero_shot:
            res.cells[uip.COLUMN] = Cell("reference", zero_shot[row.key])
        rows.append(res)
    head = header(run, sources, unavailable, time.perf_counter() - t0)
    columns = [c for c, _ in column_order(run.suite)]
    if zero_shot:
        columns.insert(columns.index("element_linear") + 1, uip.COLUMN)
    elif run.zero_shot and any(r.key in uip.ROWS for r in run.suite.rows):
        run.extra_notes.append(f"- {uip.available() or 'SevenNet-0 zero-shot: no value'}")
    models = [m.name for m in run.suite.models if m.name not in unavailable]
    models.sort(key=lambda m: m != LEGNET)
    return write_report(run.out, rows, head, columns, models,
                        intro(head, unavailable) + run.extra_notes)
