"""The four tasks, evaluate and predict through the ``metalegnet`` command line."""

from __future__ import annotations

import json

import ase.io
import numpy as np
import pytest
import yaml

from metalegnet.cli import main

TINY_MODEL = {"num_features": 16, "num_blocks": 1, "voxel_sizes": [5.0]}


def _config_file(tmp_path, **extra):
    data = {"model_config": TINY_MODEL, "cutoff": 4.0, "split_fractions": [0.6, 0.2, 0.2],
            "num_threads": 1} | extra
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize("task,model", [("s2e", "legnet-vanilla"), ("s2f", "legnet"),
                                        ("s2ef", "legnet-coarsen"), ("is2re", "legnet")])
def test_train_each_task(task, model, tiny_oc20, tmp_path, capsys):
    out = tmp_path / task
    code = main(["train", "--data", str(tiny_oc20), "--task", task, "--out", str(out),
                 "--model", model, "--epochs", "1", "--batch-size", "2", "--seed", "3",
                 "--device", "cpu", "--no-progress", "--config",
                 str(_config_file(tmp_path))])
    assert code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    saved = yaml.safe_load((out / "config.yaml").read_text())
    assert saved["task"] == task and saved["model"] == model and saved["seed"] == 3
    assert saved["model_config"] == TINY_MODEL
    test = metrics["test"]
    assert test["n"] >= 1
    assert ("energy_mae" in test) == (task != "s2f")
    assert ("force_mae" in test) == (task in ("s2f", "s2ef"))
    if task == "is2re":  # one sample per trajectory, target = relaxed total energy
        assert sum(metrics["num_samples"].values()) == 5
        assert metrics["energy"] == "relaxed total energy"
    splits = json.loads((out / "splits.json").read_text())
    assert not set(splits["train"]) & set(splits["test"])
    assert "test:" in capsys.readouterr().out


def test_evaluate_and_predict(tiny_oc20, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--data", str(tiny_oc20), "--task", "s2ef", "--out", str(out),
                 "--epochs", "1", "--no-progress", "--config",
                 str(_config_file(tmp_path))]) == 0
    assert main(["evaluate", str(out / "checkpoint.pt"), "--split", "test"]) == 0
    assert "spread of the predicted energies: std" in capsys.readouterr().out
    result = json.loads((out / "eval_test.json").read_text())
    assert result["metrics"]["energy_mae"] == pytest.approx(
        json.loads((out / "metrics.json").read_text())["test"]["energy_mae"], rel=1e-5)
    spread = result["spread"]  # std of predicted and true energies (eV)
    assert spread["energy_true_std"] > 0 and spread["energy_pred_std"] >= 0
    assert spread["energy_ratio"] == pytest.approx(
        spread["energy_pred_std"] / spread["energy_true_std"])
    png = out / "eval_test.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    pred = tmp_path / "pred.extxyz"
    assert main(["predict", str(out / "checkpoint.pt"), str(tiny_oc20), "-o",
                 str(pred)]) == 0
    frames = ase.io.read(pred, ":")
    source = ase.io.read(tiny_oc20, ":")
    assert len(frames) == len(source)
    for atoms in frames[:3]:
        w = atoms.arrays["importance"]
        assert w.shape == (len(atoms),) and w.max() == pytest.approx(1.0)
        assert atoms.arrays["contributions"].shape == (len(atoms),)
        assert atoms.get_forces().shape == (len(atoms), 3)
        assert atoms.calc.results["energies"].sum() == pytest.approx(
            atoms.get_potential_energy(), abs=1e-3)
        assert atoms.info["predicted"] == "total energy"
    assert not np.allclose(frames[0].get_forces(), source[0].get_forces())


def test_cli_errors_are_one_line(tiny_oc20, tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("learning_rate: 0.1\n")
    code = main(["train", "--data", str(tiny_oc20), "--task", "s2e", "--out",
                 str(tmp_path / "x"), "--config", str(bad)])
    err = capsys.readouterr().err
    assert code == 2 and "unknown TrainConfig key(s): learning_rate" in err
    code = main(["train", "--data", "no-such-set", "--task", "s2e", "--out",
                 str(tmp_path / "y")])
    assert code == 2 and "no-such-set" in capsys.readouterr().err
    code = main(["train", "--data", str(tiny_oc20), "--task", "s2ef", "--pose-variants", "1",
                 "--out", str(tmp_path / "z")])
    assert code == 2 and "pose_variants needs task s2e" in capsys.readouterr().err


def test_demo_end_to_end_quick(tmp_path, capsys):
    out = tmp_path / "demo_out"
    assert main(["demo", "--out", str(out), "--epochs", "1", "--structure-stride", "20"]) == 0
    printed = capsys.readouterr().out
    assert "structures" in printed and "most important atoms" in printed
    assert "predicted adsorption energy" in printed
    report = (out / "report.md").read_text()
    assert "| LegNet (this run) |" in report and "per-element linear fit" in report
    assert "wwl-simple" in report and "Spread (standard deviation) of the predictions" in report
    assert "predicted adsorption energy (eV)" in report  # the SEAM table's energy column
    assert (out / "parity.png").read_bytes()[:4] == b"\x89PNG"
    assert str(out / "report.md") in printed
    # the pipeline's last steps: checkpoint, environment database, SEAM poses for ase gui
    assert (out / "legnet.pt").is_file() and (out / "environments.db").is_file()
    import ase.io

    poses = ase.io.read(out / "seam" / "proposals.extxyz", ":")
    assert poses and [p.info["rank"] for p in poses] == list(range(1, len(poses) + 1))
    assert all((p.get_tags() == 2).any() for p in poses)
    assert "## SEAM on a surface the model never saw" in report


def test_demo_refuses_bad_stride(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path / "d"), "--structure-stride", "0"]) == 2
    err = capsys.readouterr().err
    assert "--structure-stride must be >= 1, got 0" in err and "Traceback" not in err
