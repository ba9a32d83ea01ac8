"""Training runs on real OC20 frames: learning, exact resume, run-folder guard, BFGS."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from metalegnet.errors import ConfigError
from metalegnet.train.config import TrainConfig
from metalegnet.train.runlog import read_log
from metalegnet.train.trainer import TrainingInterrupted, train


def _quiet(*_):
    pass


def test_short_training_lowers_the_loss(tiny_config, tmp_path):
    cfg = TrainConfig(**(tiny_config | {"epochs": 6, "batch_size": 2}))
    metrics = train(cfg, tmp_path / "run", log=_quiet)
    rows = read_log(tmp_path / "run" / "log.csv")
    assert len(rows) == 6
    first, last = float(rows[0]["train_loss"]), float(rows[-1]["train_loss"])
    assert last < 0.8 * first
    for name in ("checkpoint.pt", "last.pt", "config.yaml", "splits.json", "log.csv",
                 "metrics.json"):
        assert (tmp_path / "run" / name).is_file()
    on_disk = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert set(on_disk["test"]) >= {"energy_mae", "force_mae", "n"}
    assert on_disk["test"]["energy_mae"] == pytest.approx(metrics["test"]["energy_mae"])
    assert on_disk["energy"] == "total energy"
    assert set(on_disk["baselines_test"]) == {"train_mean", "element_linear"}


def test_killed_run_resumes_to_the_same_metrics(tiny_config, tmp_path):
    kw = tiny_config | {"epochs": 3, "batch_size": 3, "checkpoint_every": 2}
    whole = train(TrainConfig(**kw), tmp_path / "a", log=_quiet)
    # 4 steps per epoch; stop at step 7 (mid-epoch 2); last.pt was written after step 6
    with pytest.raises(TrainingInterrupted):
        train(TrainConfig(**kw), tmp_path / "b", stop_after_steps=7, log=_quiet)
    assert not (tmp_path / "b" / "metrics.json").exists()
    resumed = train(TrainConfig(**kw), tmp_path / "b", resume=True, log=_quiet)
    for part in ("val", "test"):
        for key, value in whole[part].items():
            assert resumed[part][key] == pytest.approx(value, rel=1e-5, abs=1e-7), (part, key)
    rows_a = read_log(tmp_path / "a" / "log.csv")
    rows_b = read_log(tmp_path / "b" / "log.csv")
    assert len(rows_b) == 3
    for ra, rb in zip(rows_a, rows_b):
        assert float(ra["train_loss"]) == pytest.approx(float(rb["train_loss"]), rel=1e-5)


def test_existing_run_needs_resume(tiny_config, tmp_path):
    cfg = TrainConfig(**(tiny_config | {"epochs": 1}))
    train(cfg, tmp_path / "run", log=_quiet)
    with pytest.raises(ConfigError, match="--resume"):
        train(cfg, tmp_path / "run", log=_quiet)
    # resuming a finished run re-scores it without training further
    again = train(cfg, tmp_path / "run", resume=True, log=_quiet)
    assert again["epochs_run"] == 1


def test_calculator_relaxes_with_the_trained_checkpoint(tiny_config, tmp_path):
    from ase.io import read
    from ase.optimize import BFGS

    from metalegnet import MetaLegNetCalculator

    train(TrainConfig(**tiny_config), tmp_path / "run", log=_quiet)
    atoms = read(tiny_config["data"], 0)
    start = atoms.get_positions().copy()
    atoms.calc = MetaLegNetCalculator.from_checkpoint(tmp_path / "run" / "checkpoint.pt")
    e0 = atoms.get_potential_energy()
    opt = BFGS(atoms, logfile=None)
    opt.run(fmax=1e-4, steps=3)
    assert opt.nsteps == 3
    assert np.isfinite(atoms.get_potential_energy()) and np.isfinite(e0)
    moved = np.abs(atoms.get_positions() - start).max()
    assert moved > 0
    fixed = atoms.constraints[0].get_indices()
    assert np.allclose(atoms.get_positions()[fixed], start[fixed])


def _poison_from_epoch(monkeypatch, epoch: int) -> None:
    """Make every weight NaN after each training step from ``epoch`` (0-based) on."""
    from metalegnet.train import trainer as T

    step = T.Trainer._train_step

    def poisoned(self, graph):
        step(self, graph)
        if self.state["epoch"] >= epoch:
            with torch.no_grad():
                for p in self.model.parameters():
                    p.fill_(float("nan"))

    monkeypatch.setattr(T.Trainer, "_train_step", poisoned)


def test_diverged_training_stops_and_keeps_the_best_checkpoint(tiny_config, tmp_path,
                                                                monkeypatch):
    _poison_from_epoch(monkeypatch, 1)
    cfg = TrainConfig(**(tiny_config | {"epochs": 6, "patience": 0}))
    metrics = train(cfg, tmp_path / "run", log=_quiet)
    assert metrics["epochs_run"] == 2 and metrics["best_epoch"] == 1  # not 6 NaN epochs
    assert metrics["stopped"].startswith("training diverged: the training loss of epoch 2")
    assert "kept the best checkpoint (epoch 1)" in metrics["stopped"]
    assert math.isfinite(metrics["test"]["energy_mae"])


def test_training_that_diverges_at_once_is_a_one_line_error(tiny_config, tmp_path,
                                                             monkeypatch):
    _poison_from_epoch(monkeypatch, 0)
    with pytest.raises(ConfigError, match="no epoch had a finite validation score"):
        train(TrainConfig(**tiny_config), tmp_path / "run", log=_quiet)
