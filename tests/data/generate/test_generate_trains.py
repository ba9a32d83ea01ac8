"""Generated data trains with `metalegnet train` unchanged (S2E on e_ads, IS2RE, S2EF)."""

from __future__ import annotations

import json

import pytest
import torch

from metalegnet.cli import main


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    out = tmp_path_factory.mktemp("gen") / "alloy"
    code = main(["data", "generate", "--preset", "alloy-surface", "--n", "4", "--out", str(out),
                 "--seed", "2", "--metals", "Cu,Pt", "--oracle", "emt", "--workers", "1",
                 "--no-progress", "--adsorbates", "O,H", "--adsorbates-per-system", "1",
                 "--placements", "2"])
    assert code == 0
    return out


@pytest.mark.parametrize("task,extra", [
    ("s2e", ["--energy-target", "adsorption", "--energy-key", "e_ads", "--drop-unlabelled"]),
    ("is2re", ["--energy-target", "adsorption", "--energy-key", "e_ads", "--drop-unlabelled"]),
    ("s2ef", []),
])
def test_generated_folder_trains(generated, task, extra, tmp_path, capsys):
    import yaml

    torch.set_num_threads(1)
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(yaml.safe_dump({"cutoff": 4.0, "split_fractions": [0.5, 0.25, 0.25],
                                   "model_config": {"num_features": 8, "num_blocks": 1,
                                                    "voxel_sizes": [5.0]}}))
    out = tmp_path / task
    code = main(["train", "--data", str(generated), "--task", task, "--out", str(out),
                 "--epochs", "1", "--batch-size", "4", "--no-progress", "--config", str(cfg),
                 *extra])
    assert code == 0, capsys.readouterr().err
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test"]["n"] >= 1
    assert ("force_mae" in metrics["test"]) == (task == "s2ef")
