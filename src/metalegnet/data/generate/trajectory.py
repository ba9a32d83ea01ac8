"""Run one system job: relax the clean substrate, then place and relax each adsorbate, label
the frames and write one extxyz file per trajectory (``<out>/<sid>.extxyz``).

Labels on every frame (``atoms.info``, OC20 conventions): ``sid`` (str), ``fid`` (int, frame
index), ``nframes``, ``system_id``, ``system_kind`` (0d/3d/2d/oxide), ``surface``,
``adsorbate``, ``task`` (``<system_id>/<adsorbate>``, a catalyst-adsorbate task), ``site``
(initial site), ``site_relaxed``, ``placement`` (mode), ``placement_index``, ``site_position``
(Å), ``rotvec`` (rad), ``height`` (Å), ``oracle``, ``e_slab`` (relaxed clean substrate total
energy, eV), ``e_gas_ref`` (sum of the adsorbate's gas references, eV), ``converged``,
``anomalies`` (comma-separated or ``none``) and, where the trajectory is valid (converged,
clean substrate converged, no anomaly unless kept), ``e_ads`` = E(frame) - e_slab - e_gas_ref
(eV), the adsorption energy of that frame: on the last frame it is the relaxed adsorption
energy, so (first frame, last-frame ``e_ads``/energy of the same ``sid``) is the IS2RE pair.
Energy (eV) and forces (eV/Å) of each frame are in its SinglePointCalculator; tags 0/1/2 and
FixAtoms (``move_mask``) as in OC20.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import ase.io
import numpy as np
from ase import Atoms

from metalegnet.data.generate.plan import SystemJob, TrajectoryJob
from metalegnet.data.generate.presets import build_system
from metalegnet.data.generate.references import GasReferences
from metalegnet.surface.adsorbates import get_adsorbate
from metalegnet.surface.anomalies import detect_anomalies, drop_exploded_labels
from metalegnet.surface.placement import PlacementConfig, place_adsorbate
from metalegnet.surface.relax import RelaxConfig, RelaxResult, relax
from metalegnet.surface.sites import classify_site


@dataclass(frozen=True)
class JobContext:
    """Everything a worker needs besides the oracle's calculator."""

    out: str
    oracle: str
    references: GasReferences
    relax: RelaxConfig
    placement: PlacementConfig
    keep_anomalies: bool = False


def trajectory_path(out: str | Path, sid: str) -> Path:
    """Where the trajectory ``sid`` is written."""
    return Path(out) / f"{sid}.extxyz"


def _plain(atoms: Atoms) -> Atoms:
    """A copy without calculator results (constraints and tags kept)."""
    copy = atoms.copy()
    copy.calc = None
    return copy


def run_system_job(job: SystemJob, ctx: JobContext, calculator) -> list[dict]:
    """Relax the clean system and every pending placement of ``job``; return one record per
    trajectory (a failed one has an ``error`` entry and no file)."""
    t0 = time.perf_counter()
    clean = relax(build_system(job.spec), calculator, ctx.relax)
    substrate = _plain(clean.frames[-1])
    slab_time = time.perf_counter() - t0
    records = []
    for traj in job.trajectories:
        t1 = time.perf_counter()
        try:
            record = _run_trajectory(job, traj, ctx, calculator, clean, substrate)
        except Exception as exc:  # one bad placement must not stop the generation
            record = {"sid": traj.sid, "system_id": job.spec.system_id,
                      "error": f"{type(exc).__name__}: {exc}"}
        record["seconds"] = round(time.perf_counter() - t1, 3)
        records.append(record)
    if records:
        records[0]["slab_seconds"] = round(slab_time, 3)
        records[0]["slab_steps"] = clean.nsteps
    return records


def _run_trajectory(job: SystemJob, traj: TrajectoryJob, ctx: JobContext, calculator,
                    clean: RelaxResult, substrate: Atoms) -> dict:
    spec = job.spec
    adsorbate = get_adsorbate(traj.adsorbate)
    rng = np.random.default_rng(np.random.SeedSequence(list(traj.seed)))
    adslab, placement = place_adsorbate(substrate, adsorbate, spec.kind, rng, ctx.placement)
    result = relax(adslab, calculator, ctx.relax)
    first, last = result.frames[0], result.frames[-1]
    anomalies = detect_anomalies(first, last, substrate, result.frames)
    e_slab = clean.final_energy
    e_gas = ctx.references.energy(adsorbate.symbols)
    e_relaxed = result.final_energy
    e_ads = e_relaxed - e_slab - e_gas
    valid = (result.converged and clean.converged and "exploded" not in anomalies
             and (ctx.keep_anomalies or not anomalies))
    if "exploded" in anomalies:
        drop_exploded_labels(result.frames)
    n_sub = len(substrate)
    b = placement.binding_index if placement.binding_index >= 0 else adsorbate.binding_indices[0]
    bind = n_sub + b
    site_relaxed = classify_site(last, bind, spec.kind)
    info = {
        "sid": traj.sid, "nframes": len(result.frames), "system_id": spec.system_id,
        "system_kind": spec.kind, "surface": spec.surface, "adsorbate": traj.adsorbate,
        "task": f"{spec.system_id}/{traj.adsorbate}", "site": placement.site_label,
        "site_relaxed": site_relaxed, "placement": placement.mode,
        "placement_index": traj.placement_index,
        "site_position": np.round(placement.site, 6), "rotvec": np.round(placement.rotvec, 6),
        "height": round(placement.height, 6), "oracle": ctx.oracle,
        "e_slab": e_slab, "e_gas_ref": e_gas, "converged": bool(result.converged),
        "anomalies": ",".join(anomalies) or "none",
    }
    for fid, frame in enumerate(result.frames):
        frame.info.clear()
        frame.info.update(info)
        frame.info["fid"] = fid
        if valid:
            frame.info["e_ads"] = frame.get_potential_energy() - e_slab - e_gas
    path = trajectory_path(ctx.out, traj.sid)
    _write_atomic(path, result.frames)
    return {
        "sid": traj.sid, "system_id": spec.system_id, "file": path.name,
        "task": info["task"], "system_kind": spec.kind, "surface": spec.surface,
        "adsorbate": traj.adsorbate, "site": placement.site_label,
        "site_relaxed": site_relaxed, "nframes": len(result.frames), "natoms": len(first),
        "converged": bool(result.converged), "slab_converged": bool(clean.converged),
        "anomalies": anomalies, "e_slab": e_slab, "e_relaxed": e_relaxed,
        "e_ads": e_ads if valid else None, "e_ads_unfiltered": e_ads,
    }


def record_from_file(out: str | Path, sid: str) -> dict:
    """Rebuild the record of a finished trajectory from its file (for a run interrupted after
    the file was written but before its record reached ``records.jsonl``)."""
    path = trajectory_path(out, sid)
    frames = ase.io.read(path, ":")
    first, last = frames[0], frames[-1]
    info = last.info
    # an exploded last frame was written without its (impossible) energy
    e_relaxed = float(last.get_potential_energy()) if last.calc is not None else float("nan")
    anomalies = [] if info["anomalies"] == "none" else str(info["anomalies"]).split(",")
    return {
        "sid": sid, "system_id": info["system_id"], "file": path.name, "task": info["task"],
        "system_kind": info["system_kind"], "surface": info["surface"],
        "adsorbate": info["adsorbate"], "site": info["site"],
        "site_relaxed": info["site_relaxed"], "nframes": len(frames), "natoms": len(first),
        "converged": bool(info["converged"]), "slab_converged": None, "anomalies": anomalies,
        "e_slab": float(info["e_slab"]), "e_relaxed": e_relaxed,
        "e_ads": float(info["e_ads"]) if "e_ads" in info else None,
        "e_ads_unfiltered": e_relaxed - float(info["e_slab"]) - float(info["e_gas_ref"]),
        "seconds": None, "rebuilt_from_file": True,
    }


def _write_atomic(path: Path, frames: list[Atoms]) -> None:
    """Write extxyz to a temporary name, then rename: a file that exists is complete."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    ase.io.write(tmp, frames, format="extxyz")
    os.replace(tmp, path)
