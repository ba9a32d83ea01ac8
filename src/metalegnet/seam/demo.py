"""The demo's last steps: environment database from the training data, then SEAM on a surface
the model never saw.

:func:`seam_demo` builds ``OUT/environments.db`` (and its FAISS index) from the last frame
of every trajectory of the data, picks the most common adsorbate among the stored
environments, builds a seeded random 50/50 alloy fcc(111) 3x3x4 slab (bottom two layers held)
of the two most common fcc metals of the data (a random alloy is no surface of the data;
lattice constant by Vegard's law from ASE's reference states), and writes SEAM's ranked poses
to ``OUT/seam/`` (:func:`metalegnet.seam.run.run_seam`). :func:`markdown_section` formats the
result for a report.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.build import fcc111
from ase.constraints import FixAtoms
from ase.data import atomic_numbers, reference_states

from metalegnet.errors import DataError
from metalegnet.surface.adsorbates import ADSORBATES
from metalegnet.surface.environment import formula


def fcc_metals(structures: Sequence[Atoms]) -> list[str]:
    """Substrate (tag != 2) fcc metals of the structures, most common first."""
    counts: Counter = Counter()
    for a in structures:
        tags = a.get_tags()
        for s, t in zip(a.get_chemical_symbols(), tags):
            ref = reference_states[atomic_numbers[s]]
            if t != 2 and ref is not None and ref.get("symmetry") == "fcc":
                counts[s] += 1
    return [s for s, _ in counts.most_common()]


def unseen_alloy_slab(metals: Sequence[str], seed: int = 0) -> Atoms:
    """A random 50/50 alloy fcc(111) 3x3x4 slab of ``metals[:2]`` (one metal: pure)."""
    if not metals:
        raise DataError("no fcc metal in the data to build a demo slab from")
    pair = list(metals[:2])
    a = float(np.mean([reference_states[atomic_numbers[m]]["a"] for m in pair]))
    slab = fcc111(pair[0], (3, 3, 4), a=a, vacuum=8.0)
    if len(pair) == 2:
        rng = np.random.default_rng(seed)
        sym = np.array(slab.get_chemical_symbols())
        sym[rng.choice(len(slab), len(slab) // 2, replace=False)] = pair[1]
        slab.set_chemical_symbols(sym)
    layer = slab.get_tags()  # ase.build: 1 = top layer ... 4 = bottom
    slab.set_tags(np.where(layer == 1, 1, 0))
    slab.set_constraint(FixAtoms(indices=np.flatnonzero(layer >= 3)))
    slab.info = {"description": f"random {'-'.join(pair)} fcc(111) 3x3x4, seed {seed}"}
    return slab


def seam_demo(checkpoint: str | Path, structures: Sequence[Atoms], out: str | Path,
              adsorbate: str | None = None, top_k: int = 5, quality: str = "full",
              seed: int = 0) -> dict:
    """Build the environment database and run SEAM (module docstring); a summary dict with
    ``db``, ``slab``, ``adsorbate``, ``build`` (counts), ``seam`` (paths, rows, time)."""
    import ase.io

    from metalegnet.checkpoint import load_checkpoint
    from metalegnet.envdb import EnvdbConfig, QualityConfig, build_envdb, load_templates
    from metalegnet.seam.run import run_seam
    from metalegnet.surface.detect import with_oc20_tags

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model, payload = load_checkpoint(checkpoint)
    db = str(out / "environments.db")
    report = build_envdb(model, structures, db, EnvdbConfig(quality=QualityConfig(quality)),
                         checkpoint=str(checkpoint))
    templates = load_templates(db)
    if adsorbate is None:
        adsorbate = most_common_adsorbate(templates)
    slab = unseen_alloy_slab(fcc_metals([with_oc20_tags(a) for a in structures]), seed)
    ase.io.write(out / "seam_slab.extxyz", slab)
    summary = run_seam(slab, adsorbate, db, out / "seam", str(checkpoint), top_k)
    return {"db": db, "slab": str(out / "seam_slab.extxyz"),
            "slab_description": slab.info["description"], "adsorbate": adsorbate,
            "energy": payload.get("metadata", {}).get("energy", "energy"),
            "build": {"rows": report.rows, "new": report.new, "merged": report.merged,
                      "families": report.families, "seconds": report.seconds},
            "seam": summary}


def most_common_adsorbate(templates) -> str:
    """The name of the most common adsorbate among the templates that SEAM can build (a
    known adsorbate or a single atom); ``O`` when there is none."""
    from ase.data import chemical_symbols

    by_formula = {formula(a.symbols): name for name, a in ADSORBATES.items()}
    for f, _ in Counter(t.adsorbate_formula for t in templates).most_common():
        if f in by_formula:
            return by_formula[f]
        if f in chemical_symbols[1:]:
            return f
    return "O"


def markdown_section(result: dict) -> str:
    """A report section: the database, the slab and the ranked poses."""
    s, b = result["seam"], result["build"]
    lines = ["## SEAM on a surface the model never saw", "",
             f"Environment database `{result['db']}`: {b['rows']} environments "
             f"({b['merged']} merged duplicates, {b['families']} families), built in "
             f"{b['seconds']:.1f} s. Slab: {result['slab_description']}; adsorbate "
             f"{result['adsorbate']}. {s['proposals']} proposals from {s['motifs']} candidate "
             f"sites in {s['proposal_seconds']:.3f} s (open `{s['extxyz']}` in `ase gui`).",
             "", "| rank | score (eV) | site | site atoms | template tier | match RMSD (Å) | "
             f"predicted {result.get('energy', 'energy')} (eV) |",
             "|---|---|---|---|---|---|---|"]
    for r in s["rows"]:
        e = "" if r.get("energy") is None else f"{r['energy']:.3f}"
        lines.append(f"| {r['rank']} | {r['score']:.3f} | {r['site_type']} | "
                     f"{r['site_composition']} | {r['template_tier']} | {r['rmsd']:.3f} | "
                     f"{e} |")
    return "\n".join(lines) + "\n"
