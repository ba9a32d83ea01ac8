"""SEAM against dense enumeration: AdsorbML's success metric with an ML oracle.

Protocol (``metalegnet bench seam --check oracle``):

1. ground truth per held-out system (:mod:`metalegnet.seam.groundtruth`): every unreduced
   pymatgen site x orientations plus random starts, relaxed with the oracle (SevenNet-0),
   anomalies filtered; cached and resumable;
2. a LegNet (S2E, ``e_ads``) and an environment database are built from real DFT data
   (xu-kitchin + wwl-simple by default) that holds none of the systems' surface compositions
   (:func:`leaks` refuses a system whose metal set is a substrate of the data);
3. SEAM proposes ``top_k`` poses on the oracle-relaxed clean slab (proposal time measured);
   each is relaxed with the oracle and checked for anomalies (cached by its start geometry);
4. success@k (AdsorbML, one-sided): a method succeeds at k when the lowest energy among its
   first k relaxed, anomaly-free structures is at most ``within`` (0.1 eV) above the ground
   truth (lower counts too); anomalous relaxations are failures.

Methods compared at the same k, on the same relaxations:

* ``seam``: SEAM's ranking;
* ``random``: the random starts in a seeded random order (``random_seeds`` orders, mean);
* ``pymatgen``: pymatgen's symmetry-reduced sites, upright, in pymatgen's order (ontop,
  bridge, hollow), which is what a user of ``AdsorbateSiteFinder`` relaxes;
* ``exhaustive``: every start (success by construction; its cost is the reference).

Also per system: the random-hit fraction (random starts that end clean within ``within`` of
the ground truth); systems below ``hard_below`` (0.3) form the hard subset. Relaxations and
optimiser steps are counted until a method's first success.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from ase import Atoms

from metalegnet.config import atomic_write_text, check_fields
from metalegnet.errors import ConfigError, DataError
from metalegnet.seam.groundtruth import (
    SYSTEMS,
    OracleSystem,
    TruthConfig,
    append_record,
    ground_truth,
    read_cache,
    relax_record,
    relaxed_slab,
    truth_energy,
)

WITHIN = 0.1
KS = (1, 3, 5)


@dataclass(frozen=True)
class OracleBenchConfig:
    """Settings of the oracle benchmark (energies in eV, times in s).

    Attributes:
        systems: system names to run (empty: all of :data:`SYSTEMS`).
        data: real DFT sets the model and database are built from.
        model: model registry name; num_features, num_blocks, epochs, max_train_s: its size
            and training budget (early stopping on a 10 % validation split by ``sid``).
        top_k: SEAM proposals relaxed per system; ks: the k of success@k.
        random_seeds: random orders of the random starts for the random baseline.
        within: the success threshold (eV); hard_below: random-hit fraction of a hard system.
        oracle: ``sevennet`` (SevenNet-0) or ``chgnet``; ``emt`` only for tests.
        truth: the ground truth's settings.
        prior_weight: SEAM's weight on the database's site prior (0 = off).
        augment_copies: placed-pose variants per training structure for the model
            (:mod:`metalegnet.seam.augment`; 0 = the relaxed structures only). The
            database is built from the structures alone.
        cover_site_types: SEAM's top k hold every site type
            (:func:`metalegnet.seam.propose.cover_site_types`); False (default) ranks by
            score alone.
    """

    systems: tuple[str, ...] = ()
    data: tuple[str, ...] = ("xu-kitchin", "wwl-simple")
    model: str = "legnet"
    num_features: int = 32
    num_blocks: int = 2
    epochs: int = 60
    max_train_s: float = 900.0
    top_k: int = 5
    ks: tuple[int, ...] = KS
    random_seeds: int = 5
    within: float = WITHIN
    hard_below: float = 0.3
    oracle: str = "sevennet"
    seed: int = 0
    prior_weight: float = 1.0
    augment_copies: int = 0
    cover_site_types: bool = False
    truth: TruthConfig = field(default_factory=TruthConfig)

    def __post_init__(self) -> None:
        check_fields(self)
        if self.augment_copies < 0:
            raise ConfigError(f"augment_copies must be >= 0, got {self.augment_copies}")
        if max(self.ks) > self.top_k:
            raise ConfigError(f"ks {self.ks} go beyond top_k {self.top_k}")
        known = {s.name for s in SYSTEMS}
        unknown = [s for s in self.systems if s not in known]
        if unknown:
            raise ConfigError(f"unknown system(s) {', '.join(unknown)}; known: "
                              f"{', '.join(sorted(known))}")


def substrate_metals(atoms: Atoms) -> frozenset[str]:
    """The metal elements of a structure's substrate (tag != 2, OC20 tags guessed)."""
    from metalegnet.surface.detect import ADSORBATE_ELEMENTS, with_oc20_tags

    tagged = with_oc20_tags(atoms)
    return frozenset(s for s, t in zip(tagged.get_chemical_symbols(), tagged.get_tags())
                     if t != 2 and s not in ADSORBATE_ELEMENTS)


def leaks(systems: Sequence[OracleSystem], frames: Sequence[Atoms]) -> list[str]:
    """Systems whose surface composition (metal set) is a substrate of ``frames``."""
    seen = {substrate_metals(a) for a in frames}
    return [s.name for s in systems if s.metals in seen]


def first_success(records: Sequence[dict | None], truth: float, within: float
                  ) -> tuple[int | None, int | None]:
    """(relaxations, optimiser steps) until the first success in ``records`` (in the
    method's order; None entries are failed starts), or (None, None)."""
    steps = 0
    for i, r in enumerate(records):
        if r is None:
            continue
        steps += int(r["nsteps"])
        if not r["anomalies"] and r["energy"] <= truth + within:
            return i + 1, steps
    return None, None


def success_at(records: Sequence[dict | None], truth: float, within: float, k: int) -> bool:
    """Whether a clean record among the first ``k`` is within ``within`` of ``truth``."""
    n, _ = first_success(list(records)[:k], truth, within)
    return n is not None


def proposal_key(atoms: Atoms) -> str:
    """A cache key of a SEAM start: a hash of its positions (0.1 mÅ) and symbols."""
    h = hashlib.sha1(np.round(atoms.positions, 4).tobytes()
                     + "".join(atoms.get_chemical_symbols()).encode())
    return "seam-" + h.hexdigest()[:16]


def seam_records(system: OracleSystem, slab: Atoms, templates, model, calculator,
                 cache: Path, config: OracleBenchConfig, prior=None
                 ) -> tuple[list[dict], dict]:
    """SEAM's ranked proposals on ``slab``, each relaxed with the oracle (cached), and SEAM's
    own counts (proposal time in s, motifs, registrations)."""
    from metalegnet.seam.propose import SeamConfig, seam

    result = seam(slab, system.adsorbate, templates, model,
                  SeamConfig(top_k=config.top_k, prior_weight=config.prior_weight,
                             cover_site_types=config.cover_site_types), prior)
    path = cache / f"{system.name}.jsonl"
    done = read_cache(path)
    out = []
    for p in result.proposals:
        key = proposal_key(p.atoms)
        if key not in done:
            rec = relax_record(key, "seam", p.atoms, calculator, slab, config.truth,
                               {"site_type": p.motif.site_type,
                                "template": p.template.key if p.template else "heuristic"})
            append_record(path, rec)
            done[key] = rec
        out.append(dict(done[key], rank=p.rank, score=p.score))
    info = {"proposal_seconds": round(result.seconds, 4), "motifs": result.n_motifs,
            "registrations": result.n_registrations, "proposals": len(result.proposals)}
    return out, info


def evaluate_system(system: OracleSystem, records: dict[str, dict], seam_recs: list[dict],
                    config: OracleBenchConfig) -> dict:
    """Every method's success@k and cost to first success on one system."""
    from metalegnet.surface.sitefinder import match_sites, pymatgen_sites

    truth = truth_energy(records)
    if not np.isfinite(truth):
        raise DataError(f"{system.name}: every ground-truth relaxation is anomalous")
    w = config.within
    site = [r for r in records.values() if r["kind"] == "site"]
    rand = sorted((r for r in records.values() if r["kind"] == "random"),
                  key=lambda r: r["random_index"])
    hits = [not r["anomalies"] and r["energy"] <= truth + w for r in rand]
    slab = relaxed_slab(system, records["slab"])
    full, reduced = pymatgen_sites(slab), pymatgen_sites(slab, symm_reduce=True)
    heur = [records.get(f"site{j}-o0") for j in match_sites(reduced, full, slab.cell)]
    methods: dict[str, dict] = {}

    def score(name: str, orders: list[list[dict | None]]) -> None:
        firsts = [first_success(o, truth, w) for o in orders]
        methods[name] = {
            **{f"success@{k}": float(np.mean([success_at(o, truth, w, k) for o in orders]))
               for k in config.ks},
            "relaxations_to_success": _mean([f[0] for f in firsts]),
            "steps_to_success": _mean([f[1] for f in firsts]),
            "found": float(np.mean([f[0] is not None for f in firsts])),
            "starts": len(orders[0])}

    score("seam", [seam_recs])
    score("random", [[rand[i] for i in np.random.default_rng([config.seed, s])
                      .permutation(len(rand))] for s in range(config.random_seeds)])
    score("pymatgen", [heur])
    everything = site + rand
    methods["exhaustive"] = {**{f"success@{k}": 1.0 for k in config.ks},
                             "relaxations_to_success": len(everything),
                             "steps_to_success": int(sum(r["nsteps"] for r in everything)),
                             "found": 1.0, "starts": len(everything)}
    best_seam = min((r["energy"] for r in seam_recs if not r["anomalies"]), default=np.inf)
    return {"system": system.name, "facet": system.facet, "order": system.order,
            "adsorbate": system.adsorbate, "atoms": len(slab), "truth_energy": truth,
            "random_hit": float(np.mean(hits)) if hits else 0.0,
            "hard": bool((np.mean(hits) if hits else 0.0) < config.hard_below),
            "anomalous_starts": int(sum(bool(r["anomalies"]) for r in everything)),
            "seam_best_gap": float(best_seam - truth),
            "seam_anomalous": int(sum(bool(r["anomalies"]) for r in seam_recs)),
            "seam_sites": [r.get("site_type") for r in seam_recs],
            "methods": methods}


def _mean(values: list) -> float | None:
    v = [x for x in values if x is not None]
    return float(np.mean(v)) if v else None


def summarise(rows: list[dict], config: OracleBenchConfig) -> dict:
    """Success rates of every method over all systems and over the hard subset."""
    out = {}
    for subset, keep in (("all", rows), ("hard", [r for r in rows if r["hard"]])):
        out[subset] = {"systems": len(keep)}
        for m in ("seam", "random", "pymatgen", "exhaustive"):
            if not keep:
                continue
            ms = [r["methods"][m] for r in keep]
            out[subset][m] = {
                **{f"success@{k}": round(float(np.mean([x[f"success@{k}"] for x in ms])), 4)
                   for k in config.ks},
                "relaxations_to_success": _mean([x["relaxations_to_success"] for x in ms]),
                "steps_to_success": _mean([x["steps_to_success"] for x in ms]),
                "found": round(float(np.mean([x["found"] for x in ms])), 4),
                "starts": float(np.mean([x["starts"] for x in ms]))}
    return out


def run_oracle_bench(config: OracleBenchConfig, out: str | Path,
                     log: Callable[[str], None] = print,
                     frames: Sequence[Atoms] | None = None, model=None) -> dict:
    """The benchmark of the module docstring; writes ``OUT/summary.json``,
    ``OUT/systems.jsonl`` and reads/extends ``OUT/cache/``; returns the summary.
    ``frames``: the model's and database's structures (default: ``config.data``).
    ``model``: a ready model to rank with (default: train, or reuse, ``OUT/model/``)."""
    from metalegnet.data.generate.oracles import load_oracle
    from metalegnet.data.io import read_structures
    from metalegnet.envdb import (
        EnvdbConfig,
        QualityConfig,
        build_envdb,
        load_site_prior,
        load_templates,
    )
    from metalegnet.seam.augment import PoseAugmentConfig
    from metalegnet.seam.training import train_adsorption_model

    out = Path(out)
    cache = out / "cache"
    systems = [s for s in SYSTEMS if not config.systems or s.name in config.systems]
    calc = load_oracle(config.oracle).calculator
    t0 = time.perf_counter()
    truth = {s.name: ground_truth(s, cache, calc, config.truth, log) for s in systems}
    log(f"ground truth: {len(systems)} systems, {time.perf_counter() - t0:.0f} s")
    if frames is None:
        frames = [a for name in config.data for a in read_structures(name)]
    frames = [a for a in frames if np.isfinite(float(a.info.get("e_ads", np.nan)))]
    leaked = leaks(systems, frames)
    if leaked:
        raise DataError(f"systems {', '.join(leaked)} have a surface composition that is in "
                        f"{'+'.join(config.data)}: not held out")
    t1 = time.perf_counter()
    if model is None:
        model = train_adsorption_model(
            frames, out / "model", ("sid",), config.model, config.num_features,
            config.num_blocks, config.epochs, config.max_train_s, config.seed,
            augment=PoseAugmentConfig(copies=config.augment_copies, seed=config.seed))
    db = str(out / "environments.db")
    build_envdb(model, frames, db, EnvdbConfig(frames="all", quality=QualityConfig("none")))
    templates = load_templates(db)
    prior = load_site_prior(db)
    build_s = time.perf_counter() - t1
    log(f"model and database: {len(frames)} structures, {len(templates)} templates, "
        f"{build_s:.0f} s")
    rows = []
    for s in systems:
        records = truth[s.name]
        slab = relaxed_slab(s, records["slab"])
        seam_recs, info = seam_records(s, slab, templates, model, calc, cache, config, prior)
        row = evaluate_system(s, records, seam_recs, config)
        row["seam"] = info
        rows.append(row)
        m = row["methods"]
        log(f"{s.name}: random-hit {row['random_hit']:.2f}, SEAM success@"
            + "/".join(map(str, config.ks)) + " "
            + "/".join(f"{m['seam'][f'success@{k}']:.0f}" for k in config.ks)
            + f", best gap {row['seam_best_gap']:+.3f} eV")
    summary = {"config": asdict(config), "summary": summarise(rows, config),
               "templates": len(templates), "training_structures": len(frames),
               "seconds_model_and_db": round(build_s, 1),
               "proposal_seconds_median": float(np.median([r["seam"]["proposal_seconds"]
                                                           for r in rows])) if rows else 0.0}
    atomic_write_text(out / "systems.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=1))
    return {**summary, "rows": rows}


def results_markdown(result: dict, command: str) -> str:
    """The results table (per system and summary) as markdown."""
    cfg, rows = result["config"], result["rows"]
    ks = cfg["ks"]
    lines = ["# SEAM vs dense enumeration (ML oracle)", "", f"Command: `{command}`", "",
             f"Oracle: {cfg['oracle']}; ground truth per system = lowest anomaly-free energy "
             f"over every unreduced pymatgen site x orientations + "
             f"{cfg['truth']['random_placements']} random starts (BFGS, fmax "
             f"{cfg['truth']['fmax']} eV/Å, at most {cfg['truth']['max_steps']} steps). "
             f"Model and database: {cfg['model']} (F={cfg['num_features']}, "
             f"{cfg['num_blocks']} blocks) on {' + '.join(cfg['data'])} "
             f"({result['training_structures']} structures, {result['templates']} "
             f"templates). Success: best of the first k relaxed structures within "
             f"{cfg['within']} eV of the ground truth (or below); anomalies fail.", "",
             "## Summary", "",
             "| subset | systems | method | " + " | ".join(f"success@{k}" for k in ks)
             + " | found at all | relaxations to first success | optimiser steps to first "
             "success | starts per system |",
             "|---|---|---|" + "---|" * len(ks) + "---|---|---|---|"]
    for subset, s in result["summary"].items():
        for m in ("seam", "random", "pymatgen", "exhaustive"):
            if m not in s:
                continue
            r = s[m]
            rel, steps = r["relaxations_to_success"], r["steps_to_success"]
            lines.append(f"| {subset} | {s['systems']} | {m} | "
                         + " | ".join(f"{100 * r[f'success@{k}']:.0f} %" for k in ks)
                         + f" | {100 * r['found']:.0f} % | "
                         f"{'-' if rel is None else f'{rel:.1f}'} | "
                         f"{'-' if steps is None else f'{steps:.0f}'} | {r['starts']:.0f} |")
    lines += ["", "## Per system", "",
              "| system | atoms | random-hit | hard | SEAM success@" + "/".join(map(str, ks))
              + " | SEAM best - truth (eV) | SEAM sites | pymatgen success@"
              + "/".join(map(str, ks)) + " | random success@" + "/".join(map(str, ks))
              + " | anomalous starts | SEAM proposal (s) |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        m = r["methods"]

        def ks_of(name: str, m: dict = m) -> str:
            return "/".join(f"{m[name][f'success@{k}']:.1f}".rstrip("0").rstrip(".")
                            for k in ks)

        lines.append(f"| {r['system']} | {r['atoms']} | {r['random_hit']:.2f} | "
                     f"{'yes' if r['hard'] else 'no'} | {ks_of('seam')} | "
                     f"{r['seam_best_gap']:+.3f} | {', '.join(map(str, r['seam_sites']))} | "
                     f"{ks_of('pymatgen')} | {ks_of('random')} | "
                     f"{r['anomalous_starts']}/{m['exhaustive']['starts']} | "
                     f"{r['seam']['proposal_seconds']:.3f} |")
    lines += ["", f"Median SEAM proposal time: {result['proposal_seconds_median']:.3f} s "
              "(CPU, one thread). 'found at all': the method's whole list (SEAM: its "
              f"{cfg['top_k']} proposals; random: every random start; pymatgen: every "
              "symmetry-reduced site) reaches the ground truth; relaxations and steps to first "
              "success are means over the systems where it does."]
    return "\n".join(lines) + "\n"
