"""End to end: a micro suite through ``metalegnet bench accuracy`` (and ``--tune``)."""

from __future__ import annotations

import importlib.util
import json
import re

import pytest
import torch
import yaml

from metalegnet.cli import main

#: a library baseline when PyG is installed, else the second column is an ablation
BASELINE = "schnet" if importlib.util.find_spec("torch_geometric") else "legnet-vanilla"
TINY = {
    "legnet": {"lr": 5e-3, "model_config": {"num_features": 8, "num_blocks": 1,
                                            "num_post_blocks": 1, "voxel_sizes": [5.0]}},
    "legnet-vanilla": {"lr": 5e-3, "model_config": {"num_features": 8, "num_blocks": 1,
                                                    "num_post_blocks": 1,
                                                    "voxel_sizes": [5.0]}},
    "schnet": {"lr": 3e-3, "model_config": {"hidden_channels": 8, "num_filters": 8,
                                            "num_interactions": 1, "num_gaussians": 8}},
}
CELL = re.compile(r"^(\*\*)?(\d+\.\d+) ± (\d+\.\d+)(\*\*)?$")


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def tiny_hparams(tmp_path):
    path = tmp_path / "bench_quick.yaml"
    path.write_text(yaml.safe_dump({"suite": "quick", "models": TINY}))
    return path


def test_micro_suite_writes_json_markdown_and_plots(tmp_path, tiny_hparams, capsys,
                                                    monkeypatch):
    out = tmp_path / "out"
    code = main(["bench", "accuracy", "--suite", "quick", "--out", str(out),
                 "--rows", "pdn-ceria:s2e,bench-0d:is2re", "--models", f"legnet,{BASELINE}",
                 "--seeds", "1", "--epochs", "1", "--hparams", str(tiny_hparams),
                 "--no-generate", "--generated", str(tmp_path / "no-data")])
    assert code == 0
    doc = json.loads((out / "results.json").read_text())
    rows = {(r["dataset"], r["task"]): r for r in doc["rows"]}
    assert list(rows) == [("pdn-ceria", "s2e"), ("bench-0d", "is2re")]
    pdn = rows["pdn-ceria", "s2e"]
    assert pdn["unit"] == "eV" and pdn["status"] == "ok"
    assert set(pdn["models"]) == {"legnet", BASELINE, "train_mean", "element_linear"}
    for name, cell in pdn["models"].items():
        assert isinstance(cell["mae_mean"], float) and cell["mae_mean"] > 0, name
        assert cell["mae_std"] == 0.0  # one seed
    assert pdn["models"]["legnet"]["train_structures_per_s"] > 0
    assert pdn["models"]["legnet"]["infer_structures_per_s"] > 0
    gen = rows["bench-0d", "is2re"]
    assert gen["status"] == "not generated" and gen["models"] == {} and gen["unit"] == "eV"
    assert doc["seeds"] == [0] and doc["suite"] == "quick"

    md = (out / "results.md").read_text()
    assert "the same maximum epochs and early-stopping patience per row for every model" in md
    assert "## Test MAE: ranking rows" in md and "## Epochs run" in md
    assert "metalegnet bench accuracy --suite quick" in md
    line = next(x for x in md.splitlines() if x.startswith("| S2E | pdn-ceria"))
    cells = [m for c in line.split("|") if (m := CELL.match(c.strip()))]
    assert len(cells) == 4  # legnet, baseline, two references
    means = [float(m.group(2)) for m in cells]
    bold = [float(m.group(2)) for m in cells if m.group(1)]
    assert bold and all(b == min(means) for b in bold)
    assert "not generated" in next(x for x in md.splitlines()
                                   if x.startswith("| IS2RE | bench-0d"))
    png = out / "plots" / "pdn-ceria_s2e.png"
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert (out / "plots" / "pdn-ceria_s2e_curves.png").read_bytes()[:4] == b"\x89PNG"
    assert not (out / "plots" / "bench-0d_is2re.png").exists()
    assert pdn["models"]["legnet"]["epochs_run"] == [1] and pdn["ranking"] is True

    # a second start resumes: both finished runs are kept, nothing is trained again
    capsys.readouterr()
    assert main(["bench", "accuracy", "--suite", "quick", "--out", str(out),
                 "--rows", "pdn-ceria:s2e,bench-0d:is2re", "--models", f"legnet,{BASELINE}",
                 "--seeds", "1", "--epochs", "1", "--hparams", str(tiny_hparams),
                 "--no-generate", "--generated", str(tmp_path / "no-data")]) == 0
    log = capsys.readouterr().out
    assert "resuming: 2 finished run(s)" in log and "0 to run" in log
    again = json.loads((out / "results.json").read_text())
    assert again["rows"][0]["models"]["legnet"]["mae_seeds"] == \
        pdn["models"]["legnet"]["mae_seeds"]

    # --report-only trains nothing: a model without stored runs (two seeds asked, one stored)
    # is left out of the table and named in the notes
    capsys.readouterr()
    assert main(["bench", "accuracy", "--suite", "quick", "--out", str(out),
                 "--rows", "pdn-ceria:s2e", "--models", f"legnet,{BASELINE}",
                 "--seeds", "2", "--epochs", "1", "--hparams", str(tiny_hparams),
                 "--report-only"]) == 0
    assert "report only: 0 stored runs of 4" in capsys.readouterr().out
    md = (out / "results.md").read_text()
    assert "pdn-ceria:s2e legnet (1 of 2 seeds)" in md and "--report-only" in md
    partial = json.loads((out / "results.json").read_text())["rows"][0]["models"]
    assert "legnet" not in partial or not partial["legnet"].get("mae_seeds")
    assert main(["bench", "accuracy", "--suite", "quick", "--out", str(out),
                 "--rows", "pdn-ceria:s2e", "--models", f"legnet,{BASELINE}",
                 "--seeds", "1", "--epochs", "1", "--hparams", str(tiny_hparams),
                 "--report-only"]) == 0
    assert "report only: 2 stored runs of 2" in capsys.readouterr().out
    assert json.loads((out / "results.json").read_text())["rows"][0]["models"]["legnet"][
        "mae_seeds"] == pdn["models"]["legnet"]["mae_seeds"]
    # a model whose library cannot be imported here still has its stored runs reported
    from metalegnet.bench import accuracy

    monkeypatch.setattr(accuracy, "check_models",
                        lambda suite: {BASELINE: "library missing (test)"})
    assert main(["bench", "accuracy", "--suite", "quick", "--out", str(out),
                 "--rows", "pdn-ceria:s2e", "--models", f"legnet,{BASELINE}",
                 "--seeds", "1", "--epochs", "1", "--hparams", str(tiny_hparams),
                 "--report-only"]) == 0
    assert "report only: 2 stored runs of 2" in capsys.readouterr().out
    assert json.loads((out / "results.json").read_text())["rows"][0]["models"][BASELINE][
        "mae_seeds"] == pdn["models"][BASELINE]["mae_seeds"]


def test_tune_records_the_lowest_validation_lr(tmp_path, tiny_hparams, capsys):
    code = main(["bench", "accuracy", "--suite", "quick", "--tune", "--models", "legnet",
                 "--lr-grid", "1e-4,1e-2", "--tune-row", "pdn-ceria:s2e", "--epochs", "1",
                 "--hparams", str(tiny_hparams), "--no-generate"])
    assert code == 0
    data = yaml.safe_load(tiny_hparams.read_text())
    record = data["tuning"]["results"]["legnet"]
    scores = record["val_mae"]
    assert set(scores) == {"0.0001", "0.01"}
    best = min(scores, key=scores.get)
    assert data["models"]["legnet"]["lr"] == float(best) == record["chosen_lr"]
    assert data["tuning"]["row"] == "pdn-ceria:s2e" and data["tuning"]["seed"] == 0
    # the other models keep their values, and the file still applies to the suite
    assert data["models"]["schnet"] == TINY["schnet"]
    assert "val MAE" in capsys.readouterr().out


def test_out_is_required_without_tune(capsys):
    assert main(["bench", "accuracy", "--suite", "quick", "--rows", "pdn-ceria"]) == 2
    assert "--out" in capsys.readouterr().err
