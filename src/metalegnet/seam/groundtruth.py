"""Dense ground truth of the SEAM oracle benchmark: every enumerated placement relaxed.

Per system (a held-out fcc slab and an adsorbate, :class:`OracleSystem`):

1. the clean slab is relaxed with the oracle (BFGS, :func:`~metalegnet.surface.relax.relax`);
   every placement below goes on the relaxed slab, which is also the reference of the
   ``surface_changed`` anomaly check;
2. ``site``: every unreduced pymatgen ``AdsorbateSiteFinder`` site
   (:func:`~metalegnet.surface.sitefinder.pymatgen_sites`) x the orientations (upright; for a
   polyatomic adsorbate also tilted by ``tilt_deg``), binding atom down at the covalent-contact
   height (:func:`~metalegnet.surface.placement.upright_positions`);
3. ``random``: ``random_placements`` AdsorbML ``random_site_heuristic_placement`` starts
   (uniform surface point, binding atom down, uniform azimuth, 20° wobble;
   :func:`~metalegnet.surface.placement.place_adsorbate`), seeded;
4. each start relaxed with the oracle (``fmax`` eV/Å, at most ``max_steps`` steps) and checked
   for anomalies (:func:`~metalegnet.surface.anomalies.detect_anomalies`: desorbed,
   dissociated, surface changed, intercalated, exploded).

The ground-truth energy is the lowest total energy (eV) of a clean (anomaly-free) relaxation.
Every relaxation is one line of ``CACHE/<system>.jsonl`` (appended and flushed as it
finishes, so a killed run keeps everything finished and a rerun computes only what is missing;
a torn last line is ignored). Records hold the key, kind, energy (eV), steps, convergence,
anomalies and the relaxed positions (Å).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ase import Atoms

from metalegnet.config import check_fields
from metalegnet.errors import ConfigError


@dataclass(frozen=True)
class OracleSystem:
    """A benchmark system: an fcc slab (pure, ordered L1_2/L1_0 or random alloy) and an
    adsorbate (:func:`~metalegnet.data.generate.builders.build_metal_slab`)."""

    host: str
    guest: str | None
    order: str
    facet: str
    adsorbate: str
    size: tuple[int, int, int] | None = None
    x_guest: float = 0.5
    seed: int = 0

    def __post_init__(self) -> None:
        check_fields(self)

    @property
    def name(self) -> str:
        metals = self.host + (self.guest or "")
        return f"{metals}-{self.order}-{self.facet}-{self.adsorbate}"

    @property
    def metals(self) -> frozenset[str]:
        return frozenset(m for m in (self.host, self.guest) if m)

    def slab(self) -> Atoms:
        """The unrelaxed slab: bottom half held (tag 0, FixAtoms), surface atoms (found by
        geometry) tagged 1, the other free atoms 0 (the tags of the training data)."""
        from metalegnet.data.generate.builders import build_metal_slab
        from metalegnet.surface.detect import find_surface_atoms

        slab = build_metal_slab("fcc", self.facet, self.host, self.guest, self.order,
                                self.x_guest if self.order == "random" else 0.0, self.seed,
                                self.size)
        tags = np.zeros(len(slab), int)
        tags[find_surface_atoms(slab, "geometry")] = 1
        slab.set_tags(tags)
        slab.info = {"system": self.name}
        return slab


#: The held-out systems: no surface composition of them is in xu-kitchin or wwl-simple (the
#: model's and the database's data; checked by :func:`metalegnet.seam.oracle_bench.leaks`).
#: 16-24 atoms, so that a SevenNet-0 relaxation takes seconds on one core.
SYSTEMS: tuple[OracleSystem, ...] = (
    OracleSystem("Cu", "Pt", "L12", "111", "CO", size=(1, 1, 1)),
    OracleSystem("Cu", "Pt", "L10", "111", "O", size=(1, 1, 1)),
    OracleSystem("Ni", "Pd", "random", "111", "H", size=(2, 2, 4)),
    OracleSystem("Pd", "Au", "random", "100", "N", size=(2, 2, 4)),
    OracleSystem("Pt", "Ni", "random", "100", "OH", size=(2, 2, 4)),
    OracleSystem("Cu", "Pd", "random", "211", "C", size=(3, 2, 4)),
    OracleSystem("Ni", "Pt", "L12", "211", "NO", size=(1, 1, 1)),
    OracleSystem("Au", "Cu", "random", "111", "CH3", size=(2, 2, 4)),
)


@dataclass(frozen=True)
class TruthConfig:
    """Ground-truth settings: random starts per system, the tilt of the second orientation of
    a polyatomic adsorbate (degrees), relaxation threshold (eV/Å) and step cap, and the seed
    of the random starts."""

    random_placements: int = 24
    tilt_deg: float = 30.0
    fmax: float = 0.05
    max_steps: int = 200
    seed: int = 0

    def __post_init__(self) -> None:
        check_fields(self)
        if self.random_placements < 0:
            raise ConfigError(f"random_placements must be >= 0, got {self.random_placements}")


def orientations(adsorbate: str, tilt_deg: float) -> list[tuple[float, float]]:
    """(tilt, azimuth) in degrees of the enumerated poses: upright, and for a polyatomic
    adsorbate also tilted towards +x."""
    from metalegnet.surface.adsorbates import resolve_adsorbate

    n = len(resolve_adsorbate(adsorbate).symbols)
    return [(0.0, 0.0)] + ([(tilt_deg, 0.0)] if n > 1 and tilt_deg else [])


def read_cache(path: Path) -> dict[str, dict]:
    """Records of a cache file by key (a torn last line, from a killed run, is skipped)."""
    out: dict[str, dict] = {}
    if not path.exists():
        return out
    for line in path.read_text().splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        out[rec["key"]] = rec
    return out


def append_record(path: Path, record: dict) -> None:
    """Append one record and flush it to disk (a killed run loses at most this line)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fh.write(json.dumps(record) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def relaxed_slab(system: OracleSystem, record: dict) -> Atoms:
    """The system's slab at the relaxed positions of its ``slab`` record."""
    slab = system.slab()
    slab.positions = np.array(record["positions"])
    return slab


def starts(system: OracleSystem, slab: Atoms, config: TruthConfig
           ) -> Iterator[tuple[str, str, Atoms, dict]]:
    """(key, kind, initial adslab, meta) of every ground-truth start."""
    from metalegnet.seam.place import build_adslab
    from metalegnet.surface.adsorbates import resolve_adsorbate
    from metalegnet.surface.placement import place_adsorbate, upright_positions
    from metalegnet.surface.sitefinder import pymatgen_sites

    ads = resolve_adsorbate(system.adsorbate)
    for i, site in enumerate(pymatgen_sites(slab)):
        for o, (tilt, azim) in enumerate(orientations(system.adsorbate, config.tilt_deg)):
            pos = upright_positions(slab, ads, site.point, tilt, azim)
            yield (f"site{i}-o{o}", "site", build_adslab(slab, ads, pos),
                   {"site_index": i, "site_kind": site.kind, "orientation": o})
    for j in range(config.random_placements):
        rng = np.random.default_rng([config.seed, j])
        adslab, placement = place_adsorbate(slab, ads, "3d", rng)
        yield (f"random{j}", "random", adslab,
               {"random_index": j, "site_label": placement.site_label})


def relax_record(key: str, kind: str, initial: Atoms, calculator, relaxed_substrate: Atoms,
                 config: TruthConfig, meta: dict | None = None) -> dict:
    """Relax ``initial`` with ``calculator``; the cache record (energy in eV)."""
    from metalegnet.surface.anomalies import detect_anomalies
    from metalegnet.surface.relax import RelaxConfig, relax

    t0 = time.perf_counter()
    result = relax(initial, calculator, RelaxConfig(fmax=config.fmax,
                                                   max_steps=config.max_steps))
    final = result.frames[-1]
    anomalies = detect_anomalies(result.frames[0], final, relaxed_substrate, result.frames)
    return {"key": key, "kind": kind, "energy": result.final_energy, "nsteps": result.nsteps,
            "converged": result.converged, "anomalies": anomalies,
            "seconds": round(time.perf_counter() - t0, 2),
            "initial": np.round(initial.positions, 4).tolist(),
            "positions": np.round(final.positions, 4).tolist(), **(meta or {})}


def ground_truth(system: OracleSystem, cache: str | Path, calculator, config: TruthConfig,
                 log: Callable[[str], None] = print) -> dict[str, dict]:
    """Every ground-truth relaxation of ``system`` (computed where missing); by key."""
    path = Path(cache) / f"{system.name}.jsonl"
    done = read_cache(path)
    if "slab" not in done:
        from metalegnet.surface.relax import RelaxConfig, relax

        slab = system.slab()
        t0 = time.perf_counter()
        r = relax(slab, calculator, RelaxConfig(fmax=config.fmax, max_steps=config.max_steps))
        rec = {"key": "slab", "kind": "slab", "energy": r.final_energy, "nsteps": r.nsteps,
               "converged": r.converged, "anomalies": [],
               "seconds": round(time.perf_counter() - t0, 2),
               "positions": np.round(r.frames[-1].positions, 6).tolist()}
        append_record(path, rec)
        done["slab"] = rec
    slab = relaxed_slab(system, done["slab"])
    todo = [s for s in starts(system, slab, config) if s[0] not in done]
    for n, (key, kind, initial, meta) in enumerate(todo):
        rec = relax_record(key, kind, initial, calculator, slab, config, meta)
        append_record(path, rec)
        done[key] = rec
        log(f"{system.name}: {key} {rec['energy']:.3f} eV, {rec['nsteps']} steps"
            f"{', ' + ','.join(rec['anomalies']) if rec['anomalies'] else ''} "
            f"({n + 1}/{len(todo)})")
    return done


def clean_energies(records: dict[str, dict], kinds=("site", "random")) -> dict[str, float]:
    """Energies (eV) of the anomaly-free relaxations of the given kinds, by key."""
    return {k: r["energy"] for k, r in records.items()
            if r["kind"] in kinds and not r["anomalies"]}


def truth_energy(records: dict[str, dict]) -> float:
    """The ground-truth (lowest clean) total energy (eV); inf when every start failed."""
    e = clean_energies(records)
    return min(e.values()) if e else float("inf")
