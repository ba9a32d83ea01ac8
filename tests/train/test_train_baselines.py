"""Library baselines train through the same trainer and CLI (`--model NAME`)."""

from __future__ import annotations

import json

import pytest

from metalegnet.cli import main

pytest.importorskip("torch_geometric")


@pytest.mark.parametrize("model,config", [
    ("schnet", {"hidden_channels": 16, "num_filters": 16, "num_interactions": 1,
                "num_gaussians": 10}),
    ("cgcnn", {"atom_features": 16, "hidden_features": 16, "num_conv": 1}),
])
def test_train_baseline_s2ef(model, config, tiny_oc20, tmp_path, capsys):
    import yaml

    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(yaml.safe_dump({"model_config": config, "cutoff": 4.0,
                                   "split_fractions": [0.6, 0.2, 0.2], "num_threads": 1}))
    out = tmp_path / model
    code = main(["train", "--data", str(tiny_oc20), "--task", "s2ef", "--out", str(out),
                 "--model", model, "--epochs", "1", "--batch-size", "2", "--no-progress",
                 "--config", str(cfg)])
    assert code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["model"] == model
    assert metrics["test"]["force_mae"] >= 0 and metrics["test"]["n"] >= 1
    # the checkpoint loads back through the calculator
    from metalegnet import MetaLegNetCalculator
    from metalegnet.data import load

    atoms = load("oc20-mini")[0]
    atoms.calc = MetaLegNetCalculator.from_checkpoint(out / "checkpoint.pt",
                                                      unseen_elements="ignore")
    assert atoms.get_forces().shape == (len(atoms), 3)


def test_unavailable_baseline_is_one_line(tiny_oc20, tmp_path, capsys):
    code = main(["train", "--data", str(tiny_oc20), "--task", "s2e", "--out",
                 str(tmp_path / "g"), "--model", "gemnet-dt", "--epochs", "1"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "gemnet-dt" in err[0] and "torch" in err[0]
