"""The benchmark suites of ``metalegnet bench accuracy``: rows (task x data set) and models.

A row is one task on one data set, scored by one test-set MAE: energy MAE (eV) for ``s2e`` and
``is2re`` (relaxed energy), force MAE (eV/Å, per Cartesian component of the free atoms) for
``s2f``. Every model of a suite trains on a row with the same budget: the row's ``epochs``,
``batch_size``, ``frame_stride`` and cutoff, the same split (set by the seed) and the same
training recipe; only the learning rate and the model size differ per model (see
:mod:`metalegnet.bench.hparams`).

* ``quick``: 2 CPU cores, under 45 minutes with ``--jobs 2``: small models, 2 seeds, frame
  subsets, no DimeNet++. Estimated ~35 min of training (62 CPU-min: per-model throughput
  timed on c3-cu111 S2E/S2F, scaled by each row's structures, atoms and epochs, checked
  against two full-length runs) plus ~4 min generating bench-0d and bench-3d with EMT the
  first time (AMD EPYC, 1 torch thread per run).
* ``full``: the published table, as a long CPU job (measured: the 210 runs of the v2 table's
  10 rows on the real sets and bench-3d-ml took 11.5 CPU-hours, DimeNet++ 4.4 and PaiNN 2.4
  of them, so ~6 h on 2 cores with ``--jobs 2``; the generated EMT rows and the rows reported apart
  come on top; resumable row by row; the 1.5 h first estimated was wrong):
  the quick suite's rows, budgets and model sizes, with 3 seeds and DimeNet++ (at a small
  size: its triplet messages are the slowest model here), bench-2d and bench-oxide where
  they have been generated. Its budgets are CPU budgets, and its header says so.
* ``large``: the GPU-scale table: library-default model sizes, 3 seeds, every frame, 30-300
  epochs. Days on 2 CPU cores; meant for the GPU machine, and not run yet.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from metalegnet.errors import ConfigError

#: models that are the paper's method and its ablations (not "baselines")
LEGNET = "legnet"
ABLATIONS = ("legnet-vanilla", "legnet-coarsen")
#: the trivial references every row reports (fitted on the training split of each seed)
REFERENCES = ("train_mean", "element_linear")
REFERENCE_LABELS = {"train_mean": "training-set mean", "element_linear": "per-element linear fit",
                    "sevennet-0": "SevenNet-0 zero-shot"}
#: generated data sets (recipes of ``metalegnet data generate``); the others are embedded
RECIPE_SETS = ("bench-0d", "bench-3d", "bench-2d", "bench-oxide")
#: recipes generated on the fly with EMT when missing (about 2 min each on 2 cores)
EMT_RECIPES = ("bench-0d", "bench-3d")


@dataclass(frozen=True)
class BenchRow:
    """One task on one data set.

    Attributes:
        dataset: embedded data-set name (``oc20-mini``) or recipe (``bench-0d``).
        task: ``s2e``, ``s2f`` or ``is2re``.
        group_by: ``info`` keys of a system; no split cuts a system.
        epochs: training epochs, the same for every model on this row.
        energy_target: ``total`` or ``adsorption``; energy_key: ``info`` key of the latter.
        frame_stride: keep every k-th frame of each trajectory (per-frame tasks).
        batch_size: structures per optimiser step, the same for every model.
        drop_unlabelled: drop structures without the label (flagged generated trajectories).
        variant: suffix of the key when a data set and task have several rows (``random``).
        split: how the row splits, in words (default: held-out ``group_by`` groups).
        test_where: a fixed out-of-domain test split (``TrainConfig.test_where``).
        structure_stride: keep every k-th structure in file order (a CPU-budget subsample).
        patience: early stopping after this many epochs without validation gain (0: off;
            then every model trains ``epochs``); ``epochs`` is then the maximum.
        ranking: whether the row ranks models; ``why_not_ranking`` says why not (the
            report shows such rows apart).
        seen_elements: hold out only groups whose elements all occur in training groups
            (``TrainConfig.split_seen_elements``; set only on rows that need it, so the
            configuration, and the stored runs, of the other rows stay as they were).
        split_fractions: train / val / test fractions of the groups when not the trainer's
            default (0.8, 0.1, 0.1); set only where a row needs it, as ``seen_elements``.
    """

    dataset: str
    task: str
    group_by: tuple[str, ...]
    epochs: int
    energy_target: str = "total"
    energy_key: str | None = None
    frame_stride: int = 1
    batch_size: int = 8
    drop_unlabelled: bool = False
    variant: str = ""
    split: str = ""
    test_where: tuple[tuple[str, tuple[str, ...]], ...] = ()
    structure_stride: int = 1
    patience: int = 0
    ranking: bool = True
    why_not_ranking: str = ""
    seen_elements: bool = False
    split_fractions: tuple[float, float, float] | None = None

    @property
    def key(self) -> str:
        """``dataset:task`` or ``dataset:task:variant``, e.g. ``oc20-mini:s2e`` or
        ``gamenet-fg:s2e:random`` (what ``--rows`` takes)."""
        return f"{self.dataset}:{self.task}" + (f":{self.variant}" if self.variant else "")

    @property
    def split_label(self) -> str:
        """How the row splits, for the tables (``split`` or the group keys)."""
        return self.split or "held-out " + ", ".join(self.group_by)

    @property
    def unit(self) -> str:
        return "eV/Å" if self.task == "s2f" else "eV"

    @property
    def metric(self) -> str:
        """Key of the scored MAE in the trainer's metrics (``energy_mae`` or ``force_mae``)."""
        return "force_mae" if self.task == "s2f" else "energy_mae"

    @property
    def generated(self) -> bool:
        return self.dataset in RECIPE_SETS

    @property
    def label(self) -> str:
        """What the MAE is of, e.g. ``adsorption energy (eads_real)``."""
        if self.task == "s2f":
            return "forces"
        what = "total energy" if self.energy_target == "total" else \
            f"adsorption energy ({self.energy_key})"
        return ("relaxed " + what) if self.task == "is2re" else what

    def train_settings(self) -> dict[str, Any]:
        """The :class:`~metalegnet.train.config.TrainConfig` keys this row fixes."""
        return {"task": self.task, "energy_target": self.energy_target,
                "energy_key": self.energy_key, "group_by": list(self.group_by),
                "epochs": self.epochs, "frame_stride": self.frame_stride,
                "batch_size": self.batch_size, "drop_unlabelled": self.drop_unlabelled,
                "test_where": ({k: list(v) for k, v in self.test_where}
                               if self.test_where else None),
                "structure_stride": self.structure_stride, "patience": self.patience,
                **({"split_seen_elements": True} if self.seen_elements else {}),
                **({"split_fractions": list(self.split_fractions)}
                   if self.split_fractions else {})}


@dataclass(frozen=True)
class ModelSpec:
    """A model column: ``name`` (a ``metalegnet train --model``), its peak learning rate
    (AdamW, per step) and ``model_config`` overrides of its config dataclass."""

    name: str
    lr: float
    model_config: dict[str, Any] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        """``legnet``, ``ablation`` or ``baseline``."""
        if self.name == LEGNET:
            return "legnet"
        return "ablation" if self.name in ABLATIONS else "baseline"


@dataclass(frozen=True)
class Suite:
    """A benchmark: rows, models, seeds and the training recipe they share.

    Attributes:
        seeds: default number of seeds (0..seeds-1; the seed sets split and initialisation).
        train: :class:`TrainConfig` keys shared by every run (cutoff Å, schedule, EMA, ...).
        skipped: model -> why this suite leaves it out (stated in the header).
        cost_structures: structures timed for the cost columns (per row and model, seed 0).
        tune_row, lr_grid: row and learning rates of ``--tune`` (validation split, seed 0).
    """

    name: str
    description: str
    rows: tuple[BenchRow, ...]
    models: tuple[ModelSpec, ...]
    seeds: int
    train: dict[str, Any]
    skipped: dict[str, str] = field(default_factory=dict)
    cost_structures: int = 32
    tune_row: str = "c3-cu111:s2e"
    lr_grid: tuple[float, ...] = (1e-3, 3e-3, 1e-2)

    def row(self, key: str) -> BenchRow:
        for r in self.rows:
            if r.key == key:
                return r
        raise ConfigError(f"suite {self.name!r} has no row {key!r}; rows: "
                          f"{', '.join(r.key for r in self.rows)}")

    def model(self, name: str) -> ModelSpec:
        for m in self.models:
            if m.name == name:
                return m
        raise ConfigError(f"suite {self.name!r} has no model {name!r}; models: "
                          f"{', '.join(m.name for m in self.models)}")

    def select(self, rows: list[str] | None = None, models: list[str] | None = None
               ) -> Suite:
        """This suite restricted to ``rows`` (row keys or data-set names) and ``models``."""
        out = self
        if rows:
            keep = [r for r in self.rows if r.key in rows or r.dataset in rows]
            unknown = [k for k in rows if not any(k in (r.key, r.dataset) for r in self.rows)]
            if unknown:
                raise ConfigError(f"unknown row(s) {', '.join(unknown)}; rows of suite "
                                  f"{self.name!r}: {', '.join(r.key for r in self.rows)}")
            out = dataclasses.replace(out, rows=tuple(keep))
        if models:
            specs = tuple(self.model(m) for m in models)
            out = dataclasses.replace(out, models=specs)
        return out

    def with_epochs(self, epochs: int) -> Suite:
        """Every row trained for ``epochs`` (still the same for every model)."""
        if epochs < 1:
            raise ConfigError(f"epochs must be >= 1, got {epochs}")
        rows = tuple(dataclasses.replace(r, epochs=epochs) for r in self.rows)
        return dataclasses.replace(self, rows=rows)


#: rows reported apart: they measure the reference rather than the model (why, per row)
NOT_RANKING = {
    "oc20-mini:s2e": "total energies over 31 different materials: the per-element "
                     "composition fit explains almost all of the variance (84 eV MAE for "
                     "every model and the fit alike in the v1 table)",
    "oc20-mini:is2re": "relaxed total energies over 31 materials: composition-dominated, "
                       "like oc20-mini S2E",
    "c3-cu111:s2f": "relaxed structures: the DFT forces are ~0 (0.0036 eV/Å for every "
                    "model and the mean alike), so the row cannot tell models apart",
}


def _rows(stride: dict[str, int], epochs: dict[str, int], patience: int = 0,
          structure_stride: dict[str, int] | None = None, v2: bool = True
          ) -> tuple[BenchRow, ...]:
    """The issue's rows; ``stride`` (frames), ``structure_stride`` and ``epochs`` by row key
    (defaults 1 / 1 / 10). ``v2``: with the benchmark-v2 real rows (gamenet-fg, wwl-gpr)."""
    sub = structure_stride or {}

    def row(dataset: str, task: str, group_by: tuple[str, ...], batch: int = 8,
            variant: str = "", **kw: Any) -> BenchRow:
        key = f"{dataset}:{task}" + (f":{variant}" if variant else "")
        return BenchRow(dataset, task, group_by, epochs.get(key, 10),
                        frame_stride=stride.get(key, 1), batch_size=batch, variant=variant,
                        structure_stride=sub.get(key, 1), patience=patience,
                        ranking=key not in NOT_RANKING,
                        why_not_ranking=NOT_RANKING.get(key, ""), **kw)

    e_ads = {"energy_target": "adsorption", "energy_key": "e_ads"}
    new_real = (
        row("gamenet-fg", "s2e", ("adsorbate",), split="held-out adsorbate molecules",
            **e_ads),
        row("gamenet-fg", "s2e", ("sid",), variant="random",
            split="random structures (GAME-Net's protocol)", **e_ads),
        row("wwl-simple", "s2e", ("surface",), seen_elements=True,
            split="held-out surfaces (their elements seen in training)", **e_ads),
        row("wwl-gpr", "s2e", ("surface", "adsorbate"), variant="alloys",
            split="train: simple adsorbates + C2 oxygenates on Pt, Ru; test: C2 "
                  "oxygenates on CuCo(111), PdRh(111)",
            test_where=(("surface", ("CuCo", "PdRh")),), **e_ads),
    ) if v2 else ()
    real = new_real + (
        row("c3-cu111", "s2e", ("formula",), energy_target="adsorption",
            energy_key="eads_real", split="held-out formulas"),
        row("xu-kitchin", "s2e", ("metal", "adsorbate"), batch=16, drop_unlabelled=True,
            split="held-out metal + adsorbate pairs", **e_ads),
        row("pdn-ceria", "s2e", ("n_pd",), batch=4, split="held-out cluster sizes", **e_ads),
        row("oc20-mini", "s2f", ("sid",), split="held-out trajectories"),
    )
    # bench-3d-ml: 12 systems, most with a metal no other system has, so only 4 can be held
    # out with their elements seen in training; 2 validation and 2 test systems (0.6/0.2/0.2)
    generated = tuple(
        row(name, task, ("system_id",), drop_unlabelled=task != "s2f", seen_elements=True,
            split="held-out systems (their elements seen in training)",
            split_fractions=(0.6, 0.2, 0.2) if name == "bench-3d-ml" else None, **e_ads)
        for name in RECIPE_SETS + (("bench-3d-ml",) if v2 else ())
        for task in ("s2e", "s2f", "is2re"))
    apart = (
        row("oc20-mini", "s2e", ("sid",), split="held-out trajectories"),
        row("oc20-mini", "is2re", ("sid",), batch=4, split="held-out trajectories"),
        row("c3-cu111", "s2f", ("formula",), split="held-out formulas"),
    )
    return real + generated + apart


_COMMON = {"warmup_fraction": 0.05, "scheduler": "cosine", "ema_decay": 0.99, "patience": 0,
           "weight_decay": 1e-5, "grad_clip": 10.0, "energy_loss": "mae",
           "force_loss": "l2mae", "split_fractions": [0.8, 0.1, 0.1]}

_QUICK_LEGNET = {"num_features": 32, "num_blocks": 2, "num_post_blocks": 0,
                 "voxel_sizes": [5.0, 10.0]}

_QUICK_STRIDE = {"oc20-mini:s2e": 24, "oc20-mini:s2f": 24, "bench-0d:s2e": 30,
                 "bench-0d:s2f": 30, "bench-3d:s2e": 30, "bench-3d:s2f": 30,
                 "bench-2d:s2e": 30, "bench-2d:s2f": 30, "bench-oxide:s2e": 30,
                 "bench-oxide:s2f": 30}
_QUICK_EPOCHS = {"oc20-mini:s2e": 6, "oc20-mini:s2f": 4, "oc20-mini:is2re": 40,
                 "c3-cu111:s2e": 8, "c3-cu111:s2f": 4, "xu-kitchin:s2e": 6,
                 "pdn-ceria:s2e": 15,
                 **{f"{d}:{t}": e for d in RECIPE_SETS
                    for t, e in (("s2e", 6), ("s2f", 4), ("is2re", 15))}}

QUICK = Suite(
    name="quick",
    description="2 CPU cores, under 45 min with --jobs 2: small models (30-85 k weights), "
                "2 seeds, few epochs, every 24th/30th frame of each oc20-mini/bench "
                "trajectory, bench-0d and bench-3d only (no bench-2d, bench-oxide)",
    rows=tuple(r for r in _rows(stride=_QUICK_STRIDE, epochs=_QUICK_EPOCHS, v2=False)
               if r.dataset not in ("bench-2d", "bench-oxide")),
    models=(
        ModelSpec("legnet", 5e-3, dict(_QUICK_LEGNET)),
        ModelSpec("legnet-vanilla", 5e-3, dict(_QUICK_LEGNET)),
        ModelSpec("legnet-coarsen", 5e-3, dict(_QUICK_LEGNET)),
        ModelSpec("schnet", 3e-3, {"hidden_channels": 64, "num_filters": 64,
                                   "num_interactions": 3, "num_gaussians": 25}),
        ModelSpec("cgcnn", 3e-3, {"atom_features": 64, "hidden_features": 128,
                                  "num_conv": 3, "num_gaussians": 25}),
        ModelSpec("painn", 3e-3, {"n_atom_basis": 32, "n_interactions": 2, "n_rbf": 16}),
        ModelSpec("gemnet-dt", 1e-3),
        ModelSpec("comenet", 1e-3),
    ),
    seeds=2,
    train={**_COMMON, "cutoff": 5.0, "device": "cpu"},
    skipped={"dimenet++": "left out of the quick suite: at 32 hidden channels it trained "
                          "12 structures/s on c3-cu111 on 1 CPU core against 49-172 for the "
                          "other models (its triplet messages), which would add ~35 min with "
                          "--jobs 2 and break the 45 min limit; it is in the full suite"},
    cost_structures=16,
)

#: full suite: maximum epochs per row (early stopping with FULL_PATIENCE ends most runs
#: sooner), and every k-th structure of the largest real sets (CPU budget; ``large`` uses all)
_FULL_EPOCHS = {"gamenet-fg:s2e": 25, "gamenet-fg:s2e:random": 25, "wwl-simple:s2e": 30,
                "wwl-gpr:s2e:alloys": 30, "c3-cu111:s2e": 40, "xu-kitchin:s2e": 30,
                "pdn-ceria:s2e": 60, "oc20-mini:s2f": 12, "oc20-mini:s2e": 6,
                "oc20-mini:is2re": 40, "c3-cu111:s2f": 4,
                **{f"{d}:{t}": e for d in RECIPE_SETS + ("bench-3d-ml",)
                   for t, e in (("s2e", 30), ("s2f", 12), ("is2re", 40))}}
_FULL_SUBSAMPLE = {"gamenet-fg:s2e": 4, "gamenet-fg:s2e:random": 4, "wwl-simple:s2e": 2,
                   "wwl-gpr:s2e:alloys": 2}
FULL_PATIENCE = 6

FULL = Suite(
    name="full",
    description="the published table as a long CPU job (2 cores, --jobs 2): every row trains "
                "to convergence on validation (early stopping after 6 epochs without gain, "
                "at most the row's epochs, the same for every model), 3 seeds, small models "
                "(30-85 k weights) and DimeNet++ (small: 32 channels, 2 blocks); every 4th "
                "gamenet-fg and every 2nd wwl-gpr structure, every 24th/30th frame of each "
                "oc20-mini/bench trajectory; bench-2d and bench-oxide where they have been "
                "generated. These are CPU budgets, far below the paper's; the GPU-scale "
                "suite is 'large'",
    rows=_rows(stride=_QUICK_STRIDE, epochs=_FULL_EPOCHS, patience=FULL_PATIENCE,
               structure_stride=_FULL_SUBSAMPLE),
    models=(
        QUICK.model("legnet"), QUICK.model("legnet-vanilla"), QUICK.model("legnet-coarsen"),
        QUICK.model("schnet"),
        ModelSpec("dimenet++", 3e-3, {"hidden_channels": 32, "out_emb_channels": 32,
                                      "int_emb_size": 16, "basis_emb_size": 4,
                                      "num_blocks": 2, "num_spherical": 4, "num_radial": 4}),
        QUICK.model("cgcnn"), QUICK.model("painn"),
        QUICK.model("gemnet-dt"), QUICK.model("comenet"),
    ),
    seeds=3,
    train={**_COMMON, "cutoff": 5.0, "device": "auto"},
    cost_structures=16,
)

LARGE = Suite(
    name="large",
    description="GPU scale: library-default model sizes, 3 seeds, every frame, "
                "bench-2d and bench-oxide where they have been generated",
    rows=_rows(stride={}, patience=20,
               epochs={"gamenet-fg:s2e": 200, "gamenet-fg:s2e:random": 200,
                       "wwl-simple:s2e": 300, "wwl-gpr:s2e:alloys": 300,
                       "oc20-mini:s2e": 60, "oc20-mini:s2f": 40, "oc20-mini:is2re": 300,
                       "c3-cu111:s2e": 100, "c3-cu111:s2f": 60, "xu-kitchin:s2e": 100,
                       "pdn-ceria:s2e": 200,
                       **{f"{d}:{t}": e for d in RECIPE_SETS + ("bench-3d-ml",)
                          for t, e in (("s2e", 40), ("s2f", 30), ("is2re", 200))}}),
    models=(
        ModelSpec("legnet", 5e-3, {"num_features": 64, "num_blocks": 3,
                                   "voxel_sizes": [5.0, 10.0]}),
        ModelSpec("legnet-vanilla", 5e-3, {"num_features": 64, "num_blocks": 3,
                                           "voxel_sizes": [5.0, 10.0]}),
        ModelSpec("legnet-coarsen", 5e-3, {"num_features": 64, "num_blocks": 3,
                                           "voxel_sizes": [5.0, 10.0]}),
        ModelSpec("schnet", 5e-4),
        ModelSpec("dimenet++", 5e-4),
        ModelSpec("cgcnn", 1e-3),
        ModelSpec("painn", 5e-4),
        ModelSpec("gemnet-dt", 5e-4),
        ModelSpec("comenet", 5e-4),
    ),
    seeds=3,
    train={**_COMMON, "cutoff": 6.0, "device": "auto"},
    cost_structures=64,
    lr_grid=(3e-4, 1e-3, 3e-3, 1e-2),
)

SUITES: dict[str, Suite] = {"quick": QUICK, "full": FULL, "large": LARGE}


def get_suite(name: str) -> Suite:
    try:
        return SUITES[name]
    except KeyError:
        raise ConfigError(f"unknown suite {name!r}; choose {', '.join(SUITES)}") from None
