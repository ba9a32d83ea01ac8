"""Real-DFT site checks of SEAM: is the top-ranked proposal the DFT-lowest configuration?

Data: groups of DFT-relaxed structures of one adsorbate on one slab at different sites
(xu-kitchin: (metal, adsorbate, coverage) groups of fcc(111) 2x2 slabs with fcc, hcp, bridge
and top; wwl-simple: (surface, facet, adsorbate) groups, mostly (211) steps and alloys).
No oracle is involved: the DFT adsorption energies of the group's structures are the truth.

Protocol (held-out groups, ``folds``-fold cross-fitting over groups, seeded):

1. for each fold, train a LegNet (adsorption energy, S2E) and build an environment
   database (:func:`metalegnet.envdb.build_envdb`) on the training structures: with
   ``train_on="all"`` (default) every labelled structure of the data set outside the fold's
   held-out groups (other coverages, groups with too few site labels, repeated labels
   included), with ``train_on="groups"`` (the earlier protocol) only the other
   folds' check groups, one structure per site label; both are kept in ``OUT/cache/`` and
   reused by a rerun (same settings assumed);
2. for each held-out group: the clean slab is the substrate of the group's first structure;
   SEAM proposes poses of the group's adsorbate on it (model energy and the fold
   database's site prior in the score);
3. SEAM's pick is the group's DFT structure whose binding atom lies laterally closest (minimum
   image) to the top-ranked proposal's binding atom; ``exact`` when the pick is the
   DFT-lowest structure, ``within`` when its DFT energy is at most 0.1 eV above the lowest.

*Option* ``centre_targets``: the fold model trains on group-centred adsorption energies,
e_ads - mean(e_ads over the training structures of the same check group), groups with one
structure dropped; the database keeps the DFT energies. Only energy differences within a
group decide a site ranking, and centring removes the (metal, adsorbate, coverage) offsets
that dominate the variance of e_ads. The model's energies are then relative to a group mean.

References on the same groups: ``always-<site>`` (the most common best site label over the
training structures' groups with at least two site labels), and ``model-on-DFT`` (the same
fold's model ranking the group's DFT geometries, a single point each). Energies in eV.
"""

from __future__ import annotations

import json
import math
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from ase import Atoms

from metalegnet.errors import ConfigError
from metalegnet.surface.detect import in_plane_mic, surface_frame, with_oc20_tags
from metalegnet.surface.environment import binding_atom

CHECKS = {
    "xu-kitchin": {"group_by": ("metal", "adsorbate", "coverage"), "min_sites": 4,
                   "skip": {"coverage": 0.0}},
    "wwl-simple": {"group_by": ("surface", "facet", "adsorbate"), "min_sites": 3, "skip": {}},
}
WITHIN = 0.1
TRAIN_ON = ("all", "groups")


@dataclass(frozen=True)
class SiteCheckConfig:
    """Settings: data set, training structures (``all`` outside the held-out groups or the
    check ``groups`` of the other folds, module docstring), folds, training (epochs, width,
    depth, time cap per fold in s), SEAM top-k and poses per site, seed, optional cap on
    groups (0 = all), the folder of the fold models and databases (default ``OUT/cache``),
    SEAM's weight on the fold database's site prior (0 = off), and the placed-pose variants
    per training structure the fold model also trains on (0 = none;
    :mod:`metalegnet.seam.augment`, the database is built from the structures alone), and
    whether the fold model trains on group-centred targets (``centre_targets``, module
    docstring)."""

    data: str = "xu-kitchin"
    train_on: str = "all"
    folds: int = 2
    epochs: int = 40
    num_features: int = 32
    num_blocks: int = 2
    max_train_s: float = 300.0
    top_k: int = 5
    seed: int = 0
    max_groups: int = 0
    quality: str = "none"
    poses_per_motif: int = 1
    cache: str | None = None
    prior_weight: float = 1.0
    augment_copies: int = 0
    centre_targets: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.centre_targets, bool):
            raise ConfigError(f"centre_targets must be a bool, got {self.centre_targets!r}")
        if self.augment_copies < 0:
            raise ConfigError(f"augment_copies must be >= 0, got {self.augment_copies}")
        if self.data not in CHECKS:
            raise ConfigError(f"site check data must be one of {sorted(CHECKS)}, got "
                              f"{self.data!r}")
        if self.folds < 2:
            raise ConfigError("site check needs at least 2 folds")
        if self.train_on not in TRAIN_ON:
            raise ConfigError(f"train_on must be one of {TRAIN_ON}, got {self.train_on!r}")


@dataclass
class GroupResult:
    group: str
    n_sites: int
    best_label: str
    energies: dict[str, float]
    seam_label: str = ""
    seam_gap: float = math.nan
    model_label: str = ""
    model_gap: float = math.nan
    prior_label: str = ""
    prior_gap: float = math.nan
    seam_seconds: float = 0.0
    fold: int = 0
    extra: dict = field(default_factory=dict)


def group_key(atoms: Atoms, data: str) -> str | None:
    """The check's group key of a structure (``None``: a skipped or unlabelled one)."""
    spec = CHECKS[data]
    info = atoms.info
    if any(info.get(k) == v for k, v in spec["skip"].items()):
        return None
    if not np.isfinite(float(info.get("e_ads", np.nan))):
        return None
    return "|".join(str(info.get(k)) for k in spec["group_by"])


def group_structures(frames: Sequence[Atoms], data: str, min_sites: int | None = None
                     ) -> dict[str, list[Atoms]]:
    """The check's groups: ``key -> structures`` (one per distinct site label, the lowest
    energy kept when a label repeats), only groups with at least ``min_sites`` distinct
    labels (default: the check's own minimum)."""
    spec = CHECKS[data]
    groups: dict[str, dict[str, Atoms]] = {}
    for a in frames:
        key = group_key(a, data)
        if key is None:
            continue
        label = str(a.info.get("site"))
        kept = groups.setdefault(key, {}).get(label)
        if kept is None or float(a.info["e_ads"]) < float(kept.info["e_ads"]):
            groups[key][label] = a
    need = spec["min_sites"] if min_sites is None else min_sites
    return {k: list(v.values()) for k, v in sorted(groups.items()) if len(v) >= need}


def training_structures(frames: Sequence[Atoms], data: str, held_out: set[str],
                        check_groups: dict[str, list[Atoms]], train_keys: Sequence[str],
                        train_on: str) -> list[Atoms]:
    """The structures a fold trains on: every labelled structure whose group is not held
    out (``all``), or the training folds' check groups (``groups``)."""
    if train_on == "groups":
        return [a for k in train_keys for a in check_groups[k]]
    return [a for a in frames if (key := group_key(a, data)) is not None
            and key not in held_out]


def centre_by_group(structures: Sequence[Atoms], data: str) -> list[Atoms]:
    """Copies of ``structures`` whose ``e_ads`` is e_ads - mean(e_ads of its check group
    among ``structures``) in eV; structures alone in their group (nothing to compare with)
    and unlabelled ones are left out."""
    groups: dict[str, list[Atoms]] = {}
    for a in structures:
        key = group_key(a, data)
        if key is not None:
            groups.setdefault(key, []).append(a)
    out = []
    for members in groups.values():
        if len(members) < 2:
            continue
        mean = float(np.mean([float(a.info["e_ads"]) for a in members]))
        for a in members:
            c = a.copy()
            c.info = dict(a.info, e_ads=float(a.info["e_ads"]) - mean)
            out.append(c)
    return out


def clean_slab(atoms: Atoms) -> Atoms:
    tagged = with_oc20_tags(atoms)
    slab = tagged[np.flatnonzero(tagged.get_tags() != 2)]
    slab.info = {}
    slab.calc = None
    return slab


def _lateral_mic(cell, a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(in_plane_mic(cell, a - b)[:2]))


#: Site names of :func:`~metalegnet.surface.sites.classify_site` in the data sets' labels.
LABELS = {"top": "ontop", "fcc": "fcc", "hcp": "hcp", "bridge": "bridge"}


def pick_structure(proposal: Atoms, group: Sequence[Atoms]) -> int:
    """Index of the group structure SEAM's proposal stands for.

    When the group's labels are plain site names (xu-kitchin: fcc, hcp, bridge, ontop), the
    structure labelled with the proposal's own site name (its binding atom's site,
    :func:`~metalegnet.surface.sites.classify_site`); otherwise (wwl-simple's ``fcc-s``, ...,
    one adsorbate per structure) the structure whose binding atom is laterally closest to the
    proposal's (same element, minimum image). Lateral matching is ambiguous at coverages with
    several adsorbates per cell, which is why plain labels are used where they exist.
    """
    from metalegnet.surface.sites import classify_site

    tagged_prop = with_oc20_tags(proposal)
    b = binding_atom(tagged_prop)
    labels = [str(a.info.get("site")) for a in group]
    if set(labels) <= set(LABELS.values()):
        name = LABELS.get(classify_site(tagged_prop, b))
        if name in labels:
            return labels.index(name)
    pos, el = proposal.positions[b], proposal.numbers[b]
    best, best_d = 0, np.inf
    for i, a in enumerate(group):
        tagged = with_oc20_tags(a)
        ads = np.flatnonzero((tagged.get_tags() == 2) & (tagged.numbers == el))
        for j in ads:
            d = _lateral_mic(a.cell, a.positions[j], pos)
            if d < best_d:
                best, best_d = i, d
    return best


def run_site_check(config: SiteCheckConfig, out: str | Path | None = None,
                   log: Callable[[str], None] = print) -> dict:
    """The check of the module docstring; returns (and writes to ``out``) the results."""
    from metalegnet.data.io import read_structures
    from metalegnet.envdb import (
        EnvdbConfig,
        QualityConfig,
        build_envdb,
        load_site_prior,
        load_templates,
    )
    from metalegnet.inference import predict
    from metalegnet.seam.augment import PoseAugmentConfig
    from metalegnet.seam.propose import SeamConfig, seam
    from metalegnet.seam.training import train_adsorption_model

    # every structure in SEAM's frame: in-plane cell flat, adsorbate on the +z face
    frames = [surface_frame(a) for a in read_structures(config.data)]
    groups = group_structures(frames, config.data)
    keys = sorted(groups)
    rng = np.random.default_rng(config.seed)
    order = rng.permutation(len(keys))
    if config.max_groups:
        order = order[: config.max_groups]
    fold_of = {keys[i]: k % config.folds for k, i in enumerate(order)}
    spec = CHECKS[config.data]
    results: list[GroupResult] = []
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        tmp = (Path(config.cache) if config.cache else
               Path(out) / "cache" if out is not None else Path(scratch))
        for fold in range(config.folds):
            test = [k for k in keys if fold_of.get(k) == fold]
            train_keys = [k for k in keys if k in fold_of and fold_of[k] != fold]
            train_frames = training_structures(frames, config.data, set(test), groups,
                                               train_keys, config.train_on)
            t0 = time.perf_counter()
            model = train_adsorption_model(
                centre_by_group(train_frames, config.data) if config.centre_targets
                else train_frames, tmp / f"fold{fold}", spec["group_by"], "legnet-vanilla",
                config.num_features, config.num_blocks, config.epochs, config.max_train_s,
                config.seed, augment=PoseAugmentConfig(copies=config.augment_copies,
                                                       seed=config.seed + fold))
            db = str(tmp / f"fold{fold}.db")
            build_envdb(model, train_frames, db, EnvdbConfig(
                frames="all", quality=QualityConfig(mode=config.quality)))  # resumes
            templates = load_templates(db)
            site_prior = load_site_prior(db)
            rule_groups = group_structures(train_frames, config.data, min_sites=2)
            best_train = Counter(min(g, key=lambda a: a.info["e_ads"]).info["site"]
                                 for g in rule_groups.values())
            prior = best_train.most_common(1)[0][0]
            log(f"fold {fold}: trained on {len(train_frames)} structures, "
                f"{len(templates)} templates, {time.perf_counter() - t0:.0f} s; prior {prior}")
            for key in test:
                group = groups[key]
                e = {a.info["site"]: float(a.info["e_ads"]) for a in group}
                low = min(e.values())
                best = min(e, key=e.get)
                r = GroupResult(key, len(group), best, e, fold=fold)
                ads = str(group[0].info.get("adsorbate"))
                t1 = time.perf_counter()
                try:
                    res = seam(clean_slab(group[0]), ads, templates, model,
                               SeamConfig(top_k=config.top_k,
                                          poses_per_motif=config.poses_per_motif,
                                          prior_weight=config.prior_weight), site_prior)
                except Exception as exc:  # an adsorbate SEAM cannot build: a failure
                    r.extra["error"] = f"{type(exc).__name__}: {exc}"
                    res = None
                r.seam_seconds = round(time.perf_counter() - t1, 3)
                if res is not None and res.proposals:
                    pick = group[pick_structure(res.proposals[0].atoms, group)]
                    r.seam_label = pick.info["site"]
                    r.seam_gap = float(pick.info["e_ads"]) - low
                preds = predict(model, [with_oc20_tags(a) for a in group],
                                compute_forces=False, unseen="ignore")
                m = int(np.argmin([p.energy for p in preds]))
                r.model_label, r.model_gap = group[m].info["site"], e[group[m].info["site"]] - low
                if prior in e:
                    r.prior_label, r.prior_gap = prior, e[prior] - low
                results.append(r)
    summary = summarise(results)
    summary["config"] = asdict(config)
    summary["seconds"] = round(time.perf_counter() - t_start, 1)
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "groups.jsonl").write_text("".join(json.dumps(asdict(r)) + "\n"
                                                  for r in results))
        (out / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary


def _rates(gaps: list[float]) -> dict:
    g = np.array(gaps, float)
    ok = np.isfinite(g)
    n = len(g)
    return {"n": n, "exact": round(float(np.sum(ok & (np.abs(g) < 1e-9)) / max(n, 1)), 4),
            "within_0.1": round(float(np.sum(ok & (g <= WITHIN)) / max(n, 1)), 4)}


def summarise(results: Sequence[GroupResult]) -> dict:
    """Exact and within-0.1-eV rates of SEAM, the model on DFT geometries and the prior
    (groups where a method made no pick count as failures)."""
    return {"groups": len(results),
            "seam": _rates([r.seam_gap for r in results]),
            "model_on_dft": _rates([r.model_gap for r in results]),
            "prior": _rates([r.prior_gap for r in results]),
            "seam_seconds_median": float(np.median([r.seam_seconds for r in results]))
            if results else 0.0}
