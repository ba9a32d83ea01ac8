"""SEAM from files: read the slab, load the templates (and model), propose, write, relax.

Outputs in ``OUT``:

* ``proposals.extxyz``: the ranked structures, best first (slab atoms first, adsorbate
  tagged 2; ``rank``, ``score``, ``site_type``, ``site_composition``, ``template``, ``rmsd``
  and, with a model, ``energy_predicted`` (eV, total) in ``info``), ready to relax or open in
  ``ase gui``;
* ``proposals.csv``: one row per proposal (:meth:`Proposal.row`), with ``relaxed_energy``
  (eV), ``relax_steps``, ``converged`` and ``anomalies`` when relaxed;
* ``relaxed.extxyz`` with ``--relax``: the relaxed structures in the same order;
* ``seam.json``: counts and the proposal time (s).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, replace
from pathlib import Path

import ase.io
from ase import Atoms

from metalegnet.config import atomic_write_text
from metalegnet.errors import ConfigError, DataError
from metalegnet.seam.propose import SeamConfig, SeamResult, seam


def read_slab(path: str) -> Atoms:
    """The (last) structure of ``path``."""
    from metalegnet.data.io import read_structures

    frames = read_structures(path)
    if not frames:
        raise DataError(f"{path}: no structure")
    return frames[-1]


def load_calculator(name: str, model=None):
    """An ASE calculator by name: ``metalegnet`` (needs the model), ``emt``, or
    ``module:Class`` (constructed without arguments)."""
    if name == "metalegnet":
        if model is None:
            raise ConfigError("--relax with the Meta-LegNet calculator needs --checkpoint")
        from metalegnet.calculator import MetaLegNetCalculator

        return MetaLegNetCalculator(model)
    if name == "emt":
        from ase.calculators.emt import EMT

        return EMT()
    if ":" in name:
        import importlib

        module, cls = name.split(":", 1)
        try:
            return getattr(importlib.import_module(module), cls)()
        except (ImportError, AttributeError) as exc:
            raise ConfigError(f"calculator {name!r}: {exc}") from None
    raise ConfigError(f"unknown calculator {name!r} (metalegnet, emt or module:Class)")


def write_extxyz(path: Path, structures) -> None:
    buf = io.StringIO()
    for atoms in structures:
        ase.io.write(buf, atoms, format="extxyz")
    atomic_write_text(path, buf.getvalue())


def write_outputs(result: SeamResult, out: str | Path, extra_rows: list[dict] | None = None
                  ) -> dict:
    """Write ``proposals.extxyz``, ``proposals.csv`` and ``seam.json``; their paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows = [p.row() for p in result.proposals]
    for row, extra in zip(rows, extra_rows or []):
        row.update(extra)
    write_extxyz(out / "proposals.extxyz", [p.atoms for p in result.proposals])
    buf = io.StringIO()
    fields = list(rows[0]) if rows else ["rank", "score"]
    writer = csv.DictWriter(buf, fieldnames=fields)
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(out / "proposals.csv", buf.getvalue())
    summary = {"proposals": len(rows), "motifs": result.n_motifs,
               "registrations": result.n_registrations, "clashes": result.n_clashes,
               "proposal_seconds": round(result.seconds, 4)}
    atomic_write_text(out / "seam.json", json.dumps(summary, indent=1))
    return {"extxyz": str(out / "proposals.extxyz"), "csv": str(out / "proposals.csv"),
            **summary}


def relax_proposals(result: SeamResult, calculator, fmax: float = 0.05, steps: int = 200
                    ) -> tuple[list[Atoms], list[dict]]:
    """Relax every proposal (BFGS, :func:`metalegnet.surface.relax`); relaxed structures and
    per-proposal ``relaxed_energy`` (eV), ``relax_steps``, ``converged``, ``anomalies``."""
    from metalegnet.surface.anomalies import detect_anomalies
    from metalegnet.surface.relax import RelaxConfig, relax

    relaxed, rows = [], []
    for p in result.proposals:
        r = relax(p.atoms, calculator, RelaxConfig(fmax=fmax, max_steps=steps))
        final = r.frames[-1]
        final.info.update(p.atoms.info)
        final.info["relaxed_energy"] = r.final_energy
        found = detect_anomalies(r.frames[0], final, None, r.frames)
        relaxed.append(final)
        rows.append({"relaxed_energy": round(r.final_energy, 5), "relax_steps": r.nsteps,
                     "converged": r.converged, "anomalies": ",".join(found) or "none"})
    return relaxed, rows


def run_seam(slab: str | Atoms, adsorbate: str, envdb: str, out: str | Path,
             checkpoint: str | None = None, top_k: int = 5, relax: bool = False,
             calculator: str = "metalegnet", fmax: float = 0.05, steps: int = 200,
             max_tier: int = 3, config: SeamConfig | None = None) -> dict:
    """The whole ``metalegnet seam`` command as a function; returns a summary dict (paths,
    counts, proposal time in s, and the rows of the table)."""
    from metalegnet.envdb.store import EnvDB

    atoms = read_slab(slab) if isinstance(slab, (str, Path)) else slab
    db = EnvDB(envdb, create=False)
    templates = db.templates(max_tier)
    model = None
    ckpt = checkpoint or db.metadata.get("checkpoint")
    if ckpt and (checkpoint or Path(ckpt).exists()):
        from metalegnet.checkpoint import load_checkpoint

        model, _ = load_checkpoint(ckpt)
    cfg = replace(config or SeamConfig(), top_k=top_k)
    result = seam(atoms, adsorbate, templates, model, cfg, db.site_prior())
    extra = None
    if relax:
        calc = load_calculator(calculator, model)
        relaxed, extra = relax_proposals(result, calc, fmax, steps)
        Path(out).mkdir(parents=True, exist_ok=True)
        write_extxyz(Path(out) / "relaxed.extxyz", relaxed)
    summary = write_outputs(result, out, extra)
    summary["model"] = ckpt if model is not None else None
    summary["rows"] = [dict(p.row(), **(e or {})) for p, e in
                       zip(result.proposals, extra or [None] * len(result.proposals))]
    summary["config"] = asdict(cfg)
    return summary
