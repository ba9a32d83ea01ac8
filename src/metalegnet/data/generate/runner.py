"""Run a generation: plan, gas references, worker processes, progress bar, resume, manifest.

Output layout under ``out``::

    manifest.json    oracle (name, version, settings), seed, all settings, gas references,
                     the systems, counts and timings
    records.jsonl    one JSON line per finished trajectory (labels, anomalies, timings)
    <sid>.extxyz     one relaxation trajectory per file (OC20 conventions)

so ``out`` itself is a data source for ``metalegnet train`` (manifest.json is not an ASE
database and records.jsonl not a structure file, so readers skip them).

A trajectory file appears only once complete (written under a temporary name, then renamed),
so a generation stopped midway resumes where it stopped: finished ``sid`` are skipped.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from metalegnet.data.generate.oracles import Oracle, OracleError, describe_elements, load_oracle
from metalegnet.data.generate.plan import PlanConfig, SystemJob, make_plan
from metalegnet.data.generate.presets import PresetConfig, usable_families
from metalegnet.data.generate.references import compute_references
from metalegnet.data.generate.trajectory import (
    JobContext,
    record_from_file,
    run_system_job,
    trajectory_path,
)
from metalegnet.errors import ConfigError
from metalegnet.surface.adsorbates import get_adsorbate
from metalegnet.surface.placement import PlacementConfig
from metalegnet.surface.relax import RelaxConfig
from metalegnet.threads import single_threaded_children

MANIFEST = "manifest.json"
RECORDS = "records.jsonl"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class GenerateConfig:
    """A whole generation.

    Attributes:
        out: output directory.
        oracle: ``emt``, ``sevennet`` or ``chgnet``.
        plan: what to generate (preset, n, seed, adsorbates, placements).
        relax: relaxation settings (BFGS, fmax in eV/Å, step cap).
        placement: placement settings.
        workers: worker processes (None: one per core).
        keep_anomalies: give anomalous trajectories an ``e_ads`` label too (still flagged;
            never ``exploded`` ones, whose labels are impossible).
        device: torch device of the ML oracles.
        name: the preset or recipe name written into the manifest.
        systems: ``(start, stop)``: generate only the plan's systems ``start .. stop - 1``
            (by plan index), to share one deterministic plan between runs or machines; the
            union of such folders is the whole set. ``None``: every system.
    """

    out: str
    oracle: str
    plan: PlanConfig
    relax: RelaxConfig = field(default_factory=RelaxConfig)
    placement: PlacementConfig = field(default_factory=PlacementConfig)
    workers: int | None = None
    keep_anomalies: bool = False
    device: str = "cpu"
    name: str | None = None
    systems: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        if self.systems is not None:
            start, stop = self.systems
            if not (isinstance(start, int) and isinstance(stop, int) and 0 <= start < stop):
                raise ConfigError(f"--systems {start}:{stop}: expected START:STOP with "
                                  "0 <= START < STOP")

    def settings(self) -> dict:
        """The settings that define the data (a resumed generation must match them)."""
        settings = {"name": self.name or self.plan.preset, "oracle": self.oracle,
                    "plan": asdict(self.plan), "relax": asdict(self.relax),
                    "placement": asdict(self.placement), "keep_anomalies": self.keep_anomalies}
        if self.systems is not None:
            settings["systems"] = list(self.systems)
        return json.loads(json.dumps(settings))  # tuples -> lists, as read back from JSON


@dataclass
class GenerateReport:
    """What a generation did: counts and wall time (s)."""

    out: str
    planned: int
    skipped: int
    done: int
    failed: int
    frames: int
    valid_labels: int
    seconds: float
    anomalies: dict[str, int]


def check_oracle(oracle: Oracle, plan: PlanConfig) -> list:
    """The usable families of the plan's preset; raise :class:`OracleError` naming the
    elements the oracle lacks when nothing is usable, or when an adsorbate needs them."""
    if plan.preset_config.metals:
        oracle.require(plan.preset_config.metals, "the chosen metals")
        lacking = set(plan.preset_config.metals) - oracle.substrate_elements
        if lacking:
            raise OracleError(f"oracle {oracle.name!r} cannot use {', '.join(sorted(lacking))} "
                              "as substrate metals")
    families, missing = usable_families(plan.preset, oracle.substrate_elements,
                                        plan.preset_config)
    if not families:
        raise OracleError(
            f"oracle {oracle.name!r} cannot label preset {plan.preset!r}: it lacks "
            f"{', '.join(missing)} as substrate elements ({oracle.name} covers substrates of "
            f"{describe_elements(oracle.substrate_elements)}); use --oracle sevennet or chgnet")
    if missing:
        print(f"metalegnet: note: preset {plan.preset!r} with oracle {oracle.name!r} leaves out "
              f"the families that need {', '.join(missing)}", file=sys.stderr)
    for name in plan.adsorbates:
        oracle.require(get_adsorbate(name).symbols, f"adsorbate {name}")
    return families


def _load_records(out: Path) -> dict[str, dict]:
    records: dict[str, dict] = {}
    path = out / RECORDS
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip():
                rec = json.loads(line)
                records[rec["sid"]] = rec
    return records


def _complete_records(out: Path, sids: list[str]) -> dict[str, dict]:
    """The record of every planned ``sid`` whose file exists; records missing from
    ``records.jsonl`` (a run stopped mid-system) are rebuilt from the files and appended."""
    records = _load_records(out)
    done: dict[str, dict] = {}
    rebuilt = []
    for sid in sids:
        if not trajectory_path(out, sid).exists():
            continue
        rec = records.get(sid)
        if rec is None or "error" in rec:
            rec = record_from_file(out, sid)
            rebuilt.append(rec)
        done[sid] = rec
    if rebuilt:
        with open(out / RECORDS, "a") as log:
            log.writelines(json.dumps(r) + "\n" for r in rebuilt)
    return done


def _check_resume(out: Path, settings: dict) -> None:
    path = out / MANIFEST
    if not path.exists():
        return
    old = json.loads(path.read_text()).get("settings") or {}
    preset_config = old.get("plan", {}).get("preset_config")
    if isinstance(preset_config, dict):  # written before a PresetConfig field existed
        old["plan"]["preset_config"] = {**asdict(PresetConfig()), **preset_config}
    if old != settings:
        raise ConfigError(f"{out} holds a different generation (its manifest.json settings "
                          "differ); choose another --out or the same settings to resume")


_WORKER: dict = {}


def _init_worker(oracle_name: str, device: str, ctx: JobContext) -> None:
    # Ctrl-C goes to the whole process group: the main process stops the pool, workers stay
    # quiet (finished trajectories are on disk; the run resumes from them).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if oracle_name != "emt":
        import torch

        torch.set_num_threads(1)
    _WORKER["calc"] = load_oracle(oracle_name, device).calculator
    _WORKER["ctx"] = ctx


def _work(job: SystemJob) -> list[dict]:
    return run_system_job(job, _WORKER["ctx"], _WORKER["calc"])


def generate(cfg: GenerateConfig, progress: bool = True) -> GenerateReport:
    """Generate (or resume) the data set of ``cfg`` under ``cfg.out``."""
    t0 = time.perf_counter()
    out = Path(cfg.out)
    settings = cfg.settings()
    _check_resume(out, settings)
    oracle = load_oracle(cfg.oracle, cfg.device)
    families = check_oracle(oracle, cfg.plan)
    jobs = make_plan(cfg.plan, families)
    if cfg.systems is not None:
        start, stop = cfg.systems
        n_systems = len(jobs)
        jobs = [j for j in jobs if start <= j.index < stop]
        if not jobs:
            raise ConfigError(f"--systems {start}:{stop} selects none of the plan's "
                              f"{n_systems} systems (0-{n_systems - 1})")
    references = compute_references(oracle, cfg.relax)
    out.mkdir(parents=True, exist_ok=True)
    manifest = {
        "format": "metalegnet-generated-oc20", "format_version": FORMAT_VERSION,
        "settings": settings,
        "oracle": {"name": oracle.name, "version": oracle.version, "settings": oracle.settings},
        "seed": cfg.plan.seed, "references": references.to_dict(),
        "units": {"energy": "eV", "forces": "eV/Å", "length": "Å"},
        "layout": {"trajectories": "<sid>.extxyz", "records": RECORDS},
        "systems": [job.spec.to_dict() for job in jobs], "status": "running",
    }
    _write_json(out / MANIFEST, manifest)
    ctx = JobContext(str(out), oracle.name, references, cfg.relax, cfg.placement,
                     cfg.keep_anomalies)
    pending = [SystemJob(j.index, j.spec, tuple(t for t in j.trajectories
                                                if not trajectory_path(out, t.sid).exists()))
               for j in jobs]
    pending = [j for j in pending if j.trajectories]
    n_planned = sum(len(j.trajectories) for j in jobs)
    n_pending = sum(len(j.trajectories) for j in pending)
    workers = max(1, min(cfg.workers or os.cpu_count() or 1, len(pending) or 1))
    new_records = _execute(pending, ctx, oracle, cfg, workers, n_pending, progress, out)
    records = _complete_records(out, [t.sid for j in jobs for t in j.trajectories])
    done = list(records.values())
    failed = [r for r in new_records if "error" in r]
    anomalies: dict[str, int] = {}
    for r in done:
        for a in r["anomalies"]:
            anomalies[a] = anomalies.get(a, 0) + 1
    report = GenerateReport(str(out), n_planned, n_planned - n_pending,
                            len([r for r in new_records if "error" not in r]), len(failed),
                            sum(r["nframes"] for r in done),
                            sum(r["e_ads"] is not None for r in done),
                            round(time.perf_counter() - t0, 2), anomalies)
    manifest.update(status="complete" if len(done) == n_planned else "incomplete",
                    counts={"planned": n_planned, "trajectories": len(done),
                            "frames": report.frames, "valid_e_ads": report.valid_labels,
                            "anomalies": anomalies, "failed_last_run": len(failed)},
                    last_run={"workers": workers, "seconds": report.seconds,
                              "new_trajectories": report.done, "skipped": report.skipped,
                              "errors": [f"{r['sid']}: {r['error']}" for r in failed][:20]})
    _write_json(out / MANIFEST, manifest)
    return report


def _execute(pending: list[SystemJob], ctx: JobContext, oracle: Oracle, cfg: GenerateConfig,
             workers: int, total: int, progress: bool, out: Path) -> list[dict]:
    """Run the pending jobs in ``workers`` processes, appending records as they finish."""
    from tqdm import tqdm

    new: list[dict] = []
    bar = tqdm(total=total, unit="traj", disable=not progress or total == 0,
               desc=f"generate ({oracle.name}, {workers} worker{'s' * (workers > 1)})")
    with open(out / RECORDS, "a") as log:
        def consume(records: list[dict]) -> None:
            for rec in records:
                log.write(json.dumps(rec) + "\n")
                new.append(rec)
            log.flush()
            bar.update(len(records))

        if not pending:
            bar.close()
            return new
        # Always worker processes (even one): each has single-threaded BLAS, so the BFGS
        # steps, and hence the files, do not depend on the number of workers.
        mp_ctx = mp.get_context("spawn")
        with _single_threaded_children(), _sigterm_exits(), mp_ctx.Pool(
                workers, initializer=_init_worker,
                initargs=(cfg.oracle, cfg.device, ctx)) as pool:
            for records in pool.imap_unordered(_work, pending, chunksize=1):
                consume(records)
    bar.close()
    return new


@contextlib.contextmanager
def _sigterm_exits():
    """SIGTERM (``kill``) raises SystemExit in the main process, so leaving the pool's
    ``with`` terminates its workers: a killed run leaves no orphan worker still writing
    trajectories into the output folder (finished ones stay; a rerun resumes)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _exit(signum, _frame):
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, _exit)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _single_threaded_children():
    """One BLAS/OpenMP thread per worker process, unless the user set the variables."""
    return single_threaded_children(force=False)


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, default=float) + "\n")
    os.replace(tmp, path)
