"""Adsorption-energy sanity check: O on Pt(111) (and Cu(111)) at the fcc, hcp, bridge and top
sites, relaxed with each oracle that is installed (BFGS, fmax 0.05 eV/Å).

E_ads = E(slab+O) - E(slab) - [E(H2O) - E(H2)] (eV, OC20 references, same oracle).
Physics expects O to prefer the fcc hollow over top on Pt(111) (DFT-PBE: by about 1 eV or
more). Run::

    .venv/bin/python benchmarks/site_preference.py [--oracles emt,sevennet,chgnet]
        [--out benchmarks/results/site_preference.md]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
from ase.build import add_adsorbate, fcc111

from metalegnet.bench.accuracy import cpu_name
from metalegnet.data.generate.builders import finalize, hold_bottom, lattice_constant
from metalegnet.data.generate.oracles import load_oracle, oracle_available
from metalegnet.data.generate.references import compute_references
from metalegnet.surface.relax import relax
from metalegnet.surface.sites import classify_site

SITES = {"fcc": "fcc", "hcp": "hcp", "bridge": "bridge", "top": "ontop"}


def site_energies(metal: str, adsorbate: str, oracle) -> dict[str, tuple[float, str, int]]:
    """{site: (E_ads in eV, relaxed site label, BFGS steps)} for one metal(111) and atom."""
    slab = fcc111(metal, size=(3, 3, 4), a=lattice_constant(metal, "fcc"), vacuum=8.0)
    slab = finalize(slab, hold_bottom(slab))
    clean = relax(slab, oracle.calculator)
    refs = compute_references(oracle)
    out = {}
    for name, ase_site in SITES.items():
        adslab = slab.copy()
        height = 1.9 if name == "top" else 1.2
        add_adsorbate(adslab, adsorbate, height, ase_site)
        adslab.set_tags(np.append(slab.get_tags(), 2))
        result = relax(adslab, oracle.calculator)
        e_ads = result.final_energy - clean.final_energy - refs.energy([adsorbate])
        out[name] = (e_ads, classify_site(result.frames[-1], len(adslab) - 1), result.nsteps)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--oracles", default="emt,sevennet,chgnet")
    parser.add_argument("--out", default="benchmarks/results/site_preference.md")
    args = parser.parse_args(argv)
    lines = ["# Adsorption-energy sanity check (O at four sites of fcc(111))", "",
             f"Machine: {cpu_name()}, {os.cpu_count()} cores (shared); "
             f"command: `.venv/bin/python benchmarks/site_preference.py --oracles "
             f"{args.oracles}`", "",
             "E_ads = E(slab+O) - E(slab) - [E(H2O) - E(H2)], eV, same oracle for every term; "
             "3x3x4 slab, bottom 2 layers fixed, BFGS fmax 0.05 eV/Å. `relaxed` is the site "
             "the O ended in.", "",
             "| oracle | surface | fcc | hcp | bridge | top | fcc < top? | seconds |",
             "|---|---|---|---|---|---|---|---|"]
    for name in args.oracles.split(","):
        if not oracle_available(name):
            lines.append(f"| {name} | - | not installed | | | | | |")
            continue
        oracle = load_oracle(name)
        for metal in ("Pt", "Cu"):
            t0 = time.perf_counter()
            res = site_energies(metal, "O", oracle)
            cells = [f"{e:.3f} ({label}, {steps} steps)" for e, label, steps in res.values()]
            ok = "yes" if res["fcc"][0] < res["top"][0] else "NO"
            lines.append(f"| {name} | {metal}(111) | " + " | ".join(cells)
                         + f" | {ok} | {time.perf_counter() - t0:.0f} |")
            print(lines[-1], flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
