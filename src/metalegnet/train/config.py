"""``TrainConfig``: every setting of one supervised training run (saved as ``config.yaml``).

Units: energies eV, forces eV/Å, lengths Å, learning rates per step, times in seconds.
Unknown keys in a YAML file are an error (:func:`metalegnet.config.from_dict`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from metalegnet.config import check_fields, from_dict, load_yaml, save_yaml, to_dict
from metalegnet.errors import ConfigError

TASKS = ("s2e", "s2f", "s2ef", "is2re")
ENERGY_TARGETS = ("total", "adsorption")
#: model name -> LegNet variant
MODEL_VARIANTS = {"legnet": "full", "legnet-full": "full", "legnet-vanilla": "vanilla",
                  "legnet-coarsen": "coarsen"}
#: library baselines trained by the same trainer (metalegnet[baselines]); see
#: :mod:`metalegnet.model.baselines` (gemnet-dt and comenet raise why they cannot run)
BASELINE_MODELS = ("schnet", "dimenet++", "cgcnn", "painn", "gemnet-dt", "comenet")
MODEL_NAMES = tuple(MODEL_VARIANTS) + BASELINE_MODELS
SCHEDULERS = ("cosine", "plateau", "constant")
ENERGY_LOSSES = ("mae", "mse")
FORCE_LOSSES = ("l2mae", "mae", "mse")
MONITORS = ("loss", "energy_mae", "force_mae")
FORCE_ATOMS = ("free", "all")


@dataclass
class TrainConfig:
    """One training run.

    Data:
        data: file, folder, glob, LMDB store or embedded data-set name (``oc20-mini``).
        task: ``s2e`` (structure -> energy), ``s2f`` (-> forces), ``s2ef`` (-> both, shared
            backbone with an energy head and a force head) or ``is2re`` (initial structure ->
            relaxed energy; one sample per trajectory ``sid``).
        energy_target: ``total`` (DFT total energy, learnt on top of per-element reference
            energies fitted on the training split) or ``adsorption`` (``e_ads``-like label).
        energy_key: ``info`` key of the adsorption energy (``e_ads``, ``eads_real``, ...).
        group_by: ``info`` key(s) that define a system; splits never cut a group. ``formula``
            is filled from the chemical formula when the data lack it.
        split_fractions: train / val / test fractions of the groups.
        split_seed: seed of the split (default: ``seed``).
        splits_file: re-use this ``splits.json`` instead of making a split.
        test_where: a fixed out-of-domain test split, ``{info key: [values]}``: the groups
            whose structures match are the test set and the others split into train and
            validation (e.g. ``{"surface": ["CuCo", "PdRh"]}``: train on the pure metals,
            test on the alloys).
        split_seen_elements: hold out (validation, test) only groups whose every element
            also occurs in a training group (``split_by_group(seen_elements=True)``).
        structure_stride: keep every k-th structure of the data in file order, before
            labelling and splitting (a documented subsample for small compute budgets).
        frame_stride: keep every k-th frame of each ``sid`` (per-frame tasks only; IS2RE
            always sees whole trajectories).
        pose_variants: placed-pose variants per *training* structure
            (:mod:`metalegnet.seam.augment`: the adsorbate (tag 2) moved rigidly by about
            0.15 Å, the substrate possibly that of the same slab relaxed around another
            site), each labelled with its structure's energy; ``s2e`` only. For the model
            SEAM ranks placed poses with; validation and test keep the structures alone.
        drop_unlabelled: drop structures that lack the task's labels instead of failing.
        max_force: largest physical force on one atom (eV/Å, Euclidean norm); a label above
            it is bad input (an exploded calculation). Default 1e4: 28x the largest force in
            the embedded sets (oc20-mini first frames, 355 eV/Å). ``None`` = no bound.
        max_energy_per_atom: largest physical |E| / N of an energy label (eV/atom; total,
            adsorption and relaxed energies). Default 1e5: 20x the largest embedded set
            (mamun-subset plane-wave totals, 5.1e3 eV/atom); it admits all-electron totals up
            to about Z = 40 (Zr: 1e5 eV), so raise it for all-electron data of heavier
            elements (up to 1.4e6 eV/atom). ``None`` = no bound.
        require_adsorbate_tags: with ``energy_target: adsorption``, also refuse data in which
            no structure tags adsorbate atoms (tag 2); by default that only gets a warning,
            since the embedded xu-kitchin, c3-cu111 and pdn-ceria carry ``e_ads`` but no
            tags. A data set in which some structures have tag-2 atoms and others none is
            always refused (a structure without an adsorbate has no adsorption energy).
        force_atoms: ``free`` (atoms not held by FixAtoms, as OC20 scores them) or ``all``.
        cutoff: neighbour cutoff r_c (Å) of the atom graph (the model's ``cutoff``).

    Model:
        model: ``legnet`` (full), ``legnet-vanilla`` or ``legnet-coarsen``, or a library
            baseline: ``schnet``, ``dimenet++``, ``cgcnn``, ``painn`` (conservative forces).
        model_config: overrides of :class:`metalegnet.LegNetConfig` (or the baseline's
            config) fields.

    Optimisation (AdamW):
        epochs, batch_size (global, over all DDP ranks), eval_batch_size, lr (peak),
        weight_decay, warmup_fraction (linear warm-up over this fraction of all steps),
        scheduler (``cosine`` to ``lr * min_lr_ratio``, ``plateau``: multiply by
        ``plateau_factor`` after ``plateau_patience`` epochs without validation gain, or
        ``constant``), grad_clip (max global L2 norm, 0 = off), ema_decay (0 = off),
        patience (early stopping, epochs without validation gain, 0 = off), monitor
        (``loss``, ``energy_mae`` or ``force_mae`` on validation).

    Loss: ``L = energy_weight * l_E(dE / sigma_E) + force_weight * l_F(dF / sigma_F)`` with
        sigma_E the training-set std of the energy residual (eV) and sigma_F the RMS force
        component (eV/Å); ``energy_loss`` in ``mae``/``mse``, ``force_loss`` in ``l2mae``
        (mean Euclidean norm per atom), ``mae`` or ``mse``.

    Run:
        seed, device (``auto``, ``cpu``, ``cuda``, ``cuda:N``), num_threads (CPU threads per
        process), num_workers (background processes building graphs for training),
        checkpoint_every (also write ``last.pt`` every this many steps, 0 = only at
        epoch ends), checkpoint_interval_s (and at least this often), max_time_s (stop
        training after this wall time and evaluate), progress (tqdm bar).
    """

    data: str = "oc20-mini"
    task: str = "s2ef"
    energy_target: str = "total"
    energy_key: str | None = None
    group_by: list[str] = field(default_factory=lambda: ["sid"])
    split_fractions: list[float] = field(default_factory=lambda: [0.8, 0.1, 0.1])
    split_seed: int | None = None
    splits_file: str | None = None
    test_where: dict[str, list[str]] | None = None
    split_seen_elements: bool = False
    structure_stride: int = 1
    frame_stride: int = 1
    pose_variants: int = 0
    drop_unlabelled: bool = False
    max_force: float | None = 1e4
    max_energy_per_atom: float | None = 1e5
    require_adsorbate_tags: bool = False
    force_atoms: str = "free"
    cutoff: float = 6.0
    model: str = "legnet"
    model_config: dict[str, Any] = field(default_factory=dict)
    epochs: int = 20
    batch_size: int = 8
    eval_batch_size: int | None = None
    lr: float = 5e-3
    weight_decay: float = 1e-5
    warmup_fraction: float = 0.05
    scheduler: str = "cosine"
    min_lr_ratio: float = 0.01
    plateau_factor: float = 0.5
    plateau_patience: int = 3
    grad_clip: float = 10.0
    ema_decay: float = 0.99
    patience: int = 10
    monitor: str = "loss"
    energy_weight: float = 1.0
    force_weight: float = 1.0
    energy_loss: str = "mae"
    force_loss: str = "l2mae"
    seed: int = 0
    device: str = "auto"
    num_threads: int | None = None
    num_workers: int = 0
    checkpoint_every: int = 100
    checkpoint_interval_s: float = 600.0
    max_time_s: float | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        check_fields(self)  # types, and finite floats (one line naming key, value, type)
        for name, allowed in (("task", TASKS), ("energy_target", ENERGY_TARGETS),
                              ("model", MODEL_NAMES), ("scheduler", SCHEDULERS),
                              ("energy_loss", ENERGY_LOSSES), ("force_loss", FORCE_LOSSES),
                              ("monitor", MONITORS), ("force_atoms", FORCE_ATOMS)):
            if getattr(self, name) not in allowed:
                raise ConfigError(f"TrainConfig.{name}={getattr(self, name)!r}; choose one of "
                                  f"{', '.join(allowed)}")
        self._check_ranges()
        if not 0.0 <= self.ema_decay < 1.0:
            raise ConfigError(f"TrainConfig.ema_decay must be in [0, 1), got {self.ema_decay}")
        if not 0.0 <= self.warmup_fraction < 1.0:
            raise ConfigError("TrainConfig.warmup_fraction must be in [0, 1)")
        if not self.group_by:
            raise ConfigError("TrainConfig.group_by needs at least one info key (e.g. sid)")
        if self.test_where is not None:
            if not self.test_where or not all(
                    isinstance(v, (list, tuple)) and v for v in self.test_where.values()):
                raise ConfigError(f"TrainConfig.test_where={self.test_where!r}: expected "
                                  "{info key: [value, ...]} with at least one value per key")
            self.test_where = {str(k): [str(x) for x in v] for k, v in self.test_where.items()}
        if self.pose_variants and self.task != "s2e":
            raise ConfigError(f"pose_variants needs task s2e (a variant keeps its structure's "
                              f"energy, not its forces), got task={self.task!r}")
        if self.monitor == "force_mae" and not self.uses_forces:
            raise ConfigError(f"monitor=force_mae needs forces, but task={self.task!r}")
        if self.monitor == "energy_mae" and not self.uses_energy:
            raise ConfigError(f"monitor=energy_mae needs energies, but task={self.task!r}")
        mc = dict(self.model_config)
        if ("variant" in mc and self.is_legnet
                and mc["variant"] != MODEL_VARIANTS[self.model]):
            raise ConfigError(f"model_config.variant={mc['variant']!r} contradicts "
                              f"model={self.model!r}; choose the variant with --model")
        if "cutoff" in mc and mc["cutoff"] != self.cutoff:
            raise ConfigError("set the cutoff with TrainConfig.cutoff, not model_config.cutoff")
        self._check_model_config()

    def _check_ranges(self) -> None:
        """Numbers that must be > 0 or >= 0 (``None`` = unset is allowed where typed so)."""
        positive = ("epochs", "batch_size", "frame_stride", "structure_stride", "cutoff", "lr",
                    "eval_batch_size",
                    "num_threads", "checkpoint_interval_s", "max_time_s", "max_force",
                    "max_energy_per_atom", "plateau_factor")
        non_negative = ("num_workers", "weight_decay", "min_lr_ratio", "plateau_patience",
                        "grad_clip", "patience", "energy_weight", "force_weight",
                        "checkpoint_every", "pose_variants")
        for name in positive:
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ConfigError(f"TrainConfig.{name} must be > 0, got {value}")
        for name in non_negative:
            if getattr(self, name) < 0:
                raise ConfigError(f"TrainConfig.{name} must be >= 0, got {getattr(self, name)}")
        fr = self.split_fractions
        if len(fr) != 3 or any(f < 0 for f in fr) or abs(sum(fr) - 1.0) > 1e-6:
            raise ConfigError(f"TrainConfig.split_fractions={fr}: expected three "
                              "non-negative numbers summing to 1 (train, val, test)")

    def _check_model_config(self) -> None:
        """Check ``model_config`` against the model's config dataclass (keys, types)."""
        try:
            if self.is_legnet:
                from metalegnet.model.config import LegNetConfig as config_cls
            else:
                from metalegnet.model.baselines import BASELINES

                if self.model not in BASELINES:  # unavailable: the trainer says why
                    return
                config_cls = BASELINES[self.model][1]
        except ImportError:  # the model cannot be imported here; the trainer says why
            return
        try:
            from_dict(config_cls, self.model_kwargs())
        except ConfigError as exc:
            raise ConfigError(f"TrainConfig.model_config: {exc}") from None

    # ------------------------------------------------------------------ derived
    @property
    def uses_energy(self) -> bool:
        return self.task != "s2f"

    @property
    def uses_forces(self) -> bool:
        return self.task in ("s2f", "s2ef")

    @property
    def energy_label(self) -> str | None:
        """Graph-level label key of the energy target (``energy``, ``e_ads``,
        ``relaxed_energy`` or ``relaxed_e_ads``), ``None`` for s2f."""
        if not self.uses_energy:
            return None
        base = "energy" if self.energy_target == "total" else "e_ads"
        return "relaxed_" + base if self.task == "is2re" else base

    @property
    def energy_description(self) -> str:
        """Which energy the numbers are, for printing (e.g. ``relaxed total energy``)."""
        if not self.uses_energy:
            return "none (forces only)"
        what = "total energy" if self.energy_target == "total" else "adsorption energy"
        return ("relaxed " + what) if self.task == "is2re" else what

    @property
    def is_legnet(self) -> bool:
        return self.model in MODEL_VARIANTS

    def model_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of :class:`metalegnet.LegNetConfig` (or of the baseline's config)
        for this run."""
        kwargs = dict(self.model_config)
        if self.is_legnet:
            kwargs["variant"] = MODEL_VARIANTS[self.model]
            # a total energy is extensive (b_G x N_G); an adsorption energy is not
            kwargs.setdefault("extensive", self.energy_target == "total")
        kwargs["cutoff"] = float(self.cutoff)
        return kwargs


def config_from_dict(data: dict[str, Any]) -> TrainConfig:
    """Build a :class:`TrainConfig`; unknown keys raise :class:`ConfigError`."""
    return from_dict(TrainConfig, data)


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """Read a YAML config and apply ``overrides`` (keys with value ``None`` are ignored)."""
    data = load_yaml(path)
    data.update({k: v for k, v in (overrides or {}).items() if v is not None})
    return config_from_dict(data)


def save_config(config: TrainConfig, path: str | Path) -> None:
    save_yaml(config, path)


def replace(config: TrainConfig, **changes: Any) -> TrainConfig:
    """A validated copy of ``config`` with ``changes``."""
    data = to_dict(config)
    data.update(changes)
    return config_from_dict(data)


__all__ = ["TrainConfig", "config_from_dict", "load_config", "save_config", "replace",
           "MODEL_NAMES", "MODEL_VARIANTS", "TASKS"]
