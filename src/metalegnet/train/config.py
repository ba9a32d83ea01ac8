"""``TrainConfig``: every setting of one supervised training run (saved as ``config.yaml``).

Units: energies eV, forces eV/Å, lengths Å, learning rates per step, times in seconds.
Unknown keys in a YAML file are an error (:func:`metalegnet.config.from_dict`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from metalegnet.config import from_dict, load_yaml, save_yaml, to_dict
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
        frame_stride: keep every k-th frame of each ``sid`` (per-frame tasks only; IS2RE
            always sees whole trajectories).
        drop_unlabelled: drop structures that lack the task's labels instead of failing.
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
    frame_stride: int = 1
    drop_unlabelled: bool = False
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
        if isinstance(self.group_by, str):
            self.group_by = [k for k in self.group_by.split(",") if k]
        self.group_by = [str(k) for k in self.group_by]
        self.split_fractions = [float(f) for f in self.split_fractions]
        for name, allowed in (("task", TASKS), ("energy_target", ENERGY_TARGETS),
                              ("model", MODEL_NAMES), ("scheduler", SCHEDULERS),
                              ("energy_loss", ENERGY_LOSSES), ("force_loss", FORCE_LOSSES),
                              ("monitor", MONITORS), ("force_atoms", FORCE_ATOMS)):
            if getattr(self, name) not in allowed:
                raise ConfigError(f"TrainConfig.{name}={getattr(self, name)!r}; choose one of "
                                  f"{', '.join(allowed)}")
        positive = {"epochs": self.epochs, "batch_size": self.batch_size,
                    "frame_stride": self.frame_stride, "cutoff": self.cutoff}
        for name, value in positive.items():
            if value is None or value <= 0:
                raise ConfigError(f"TrainConfig.{name} must be > 0, got {value}")
        if self.num_workers < 0:
            raise ConfigError(f"TrainConfig.num_workers must be >= 0, got {self.num_workers}")
        if self.lr <= 0:
            raise ConfigError(f"TrainConfig.lr must be > 0, got {self.lr}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ConfigError(f"TrainConfig.ema_decay must be in [0, 1), got {self.ema_decay}")
        if not 0.0 <= self.warmup_fraction < 1.0:
            raise ConfigError("TrainConfig.warmup_fraction must be in [0, 1)")
        if not self.group_by:
            raise ConfigError("TrainConfig.group_by needs at least one info key (e.g. sid)")
        if self.monitor == "force_mae" and not self.uses_forces:
            raise ConfigError(f"monitor=force_mae needs forces, but task={self.task!r}")
        if self.monitor == "energy_mae" and not self.uses_energy:
            raise ConfigError(f"monitor=energy_mae needs energies, but task={self.task!r}")
        mc = dict(self.model_config)
        if ("variant" in mc and self.is_legnet
                and mc["variant"] != MODEL_VARIANTS[self.model]):
            raise ConfigError(f"model_config.variant={mc['variant']!r} contradicts "
                              f"model={self.model!r}; choose the variant with --model")
        if "cutoff" in mc and float(mc["cutoff"]) != float(self.cutoff):
            raise ConfigError("set the cutoff with TrainConfig.cutoff, not model_config.cutoff")

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
