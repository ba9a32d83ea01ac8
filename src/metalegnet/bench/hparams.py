"""Per-model hyperparameters of a suite, recorded in ``metalegnet/bench/configs/
bench_<suite>.yaml`` (inside the package).

The file holds, per model, the peak learning rate ``lr`` (AdamW, per step) and the
``model_config`` overrides of its config dataclass, plus a ``tuning`` record saying how the
learning rates were chosen (``--tune``: a grid on the validation split of seed 0 of one row,
the same grid and epochs for every model; or "not tuned: defaults")::

    suite: quick
    tuning: {method: ..., row: c3-cu111:s2e, seed: 0, grid: [...], val_mae: {...}}
    models:
      legnet: {lr: 0.005, model_config: {num_features: 16, ...}}
      schnet: {lr: 0.003, model_config: {hidden_channels: 32, ...}}

``metalegnet bench accuracy`` reads it when it exists (``--hparams``), else uses the suite's
built-in values (:mod:`metalegnet.bench.suites`, which the committed files start from).
"""

from __future__ import annotations

import copy
import dataclasses
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml

from metalegnet.bench.suites import ModelSpec, Suite
from metalegnet.config import atomic_write_text
from metalegnet.errors import ConfigError

UNTUNED = {"method": "not tuned: the suite's built-in learning rates (run "
                     "'metalegnet bench accuracy --tune' to choose them on validation)"}


def default_path(suite: str) -> Path:
    """``bench_<suite>.yaml`` in the installed package (``metalegnet/bench/configs``), so
    the benchmark finds its hyperparameters from any working directory."""
    return Path(str(files("metalegnet.bench.configs"))) / f"bench_{suite}.yaml"


def hparams_dict(suite: Suite, tuning: dict[str, Any] | None = None) -> dict[str, Any]:
    """The YAML content for ``suite``'s current model specs."""
    return {"suite": suite.name, "tuning": tuning or dict(UNTUNED),
            "models": {m.name: {"lr": float(m.lr),
                                "model_config": copy.deepcopy(dict(m.model_config))}
                       for m in suite.models}}


def save_hparams(suite: Suite, path: str | Path, tuning: dict[str, Any] | None = None) -> Path:
    """Write ``path`` (YAML) with a comment naming the command that reads it."""
    head = (f"# Hyperparameters of 'metalegnet bench accuracy --suite {suite.name}':\n"
            "# peak learning rate (AdamW, per step) and model size per model. Budgets (epochs,\n"
            "# batch size, frames) are per row and the same for every model: see\n"
            "# src/metalegnet/bench/suites.py. Written by --tune (or by hand).\n")
    text = head + yaml.safe_dump(hparams_dict(suite, tuning), sort_keys=False)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, text)
    return path


def load_hparams(path: str | Path) -> dict[str, Any]:
    """Read and check a hyperparameter file (unknown top-level or model keys: error)."""
    data = yaml.safe_load(Path(path).read_text()) or {}
    unknown = set(data) - {"suite", "tuning", "models"}
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {', '.join(sorted(unknown))}")
    for name, spec in (data.get("models") or {}).items():
        bad = set(spec or {}) - {"lr", "model_config"}
        if bad:
            raise ConfigError(f"{path}: model {name!r} has unknown key(s) "
                              f"{', '.join(sorted(bad))}; use lr and model_config")
    return data


def apply_hparams(suite: Suite, data: dict[str, Any]) -> Suite:
    """``suite`` with the learning rates and model configs of ``data`` (other models keep
    the built-in values). A file of another suite is an error."""
    if data.get("suite") not in (None, suite.name):
        raise ConfigError(f"hyperparameters are for suite {data['suite']!r}, not "
                          f"{suite.name!r}")
    given = data.get("models") or {}
    names = {m.name for m in suite.models}
    unknown = set(given) - names
    if unknown:
        raise ConfigError(f"hyperparameters name model(s) not in suite {suite.name!r}: "
                          f"{', '.join(sorted(unknown))}")
    models = []
    for m in suite.models:
        spec = given.get(m.name) or {}
        models.append(ModelSpec(m.name, float(spec.get("lr", m.lr)),
                                dict(spec.get("model_config", m.model_config) or {})))
    return dataclasses.replace(suite, models=tuple(models))
