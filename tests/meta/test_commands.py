"""``metalegnet meta-train`` / ``metalegnet adapt`` end to end on generated (EMT) tasks."""

from __future__ import annotations

import json

import numpy as np
import pytest
from ase.io import write

from metalegnet.calculator import MetaLegNetCalculator
from metalegnet.checkpoint import load_checkpoint
from metalegnet.cli import main
from metalegnet.inference import predict

from .conftest import emt_slab

TINY = ["--model", "legnet-vanilla", "--cutoff", "4.0", "--support", "3", "--query", "3",
        "--meta-batch", "2", "--inner-steps", "1", "--inner-lr", "0.01", "--no-progress",
        "--num-threads", "1"]


def _yaml(tmp_path):
    cfg = tmp_path / "meta.yaml"
    cfg.write_text("model_config: {num_features: 8, num_blocks: 1, num_radial: 4}\n")
    return str(cfg)


def _mae(model, structures):
    preds = predict(model, structures, unseen="ignore")
    return float(np.mean([abs(p.energy - a.get_potential_energy())
                          for p, a in zip(preds, structures)]))


@pytest.fixture(scope="module")
def meta_run(tmp_path_factory, emt_tasks):
    tmp = tmp_path_factory.mktemp("meta")
    src = tmp / "source.extxyz"
    write(src, emt_tasks)  # Cu-CO, Pt-CO, Cu-O, Au-CO
    out = tmp / "run"
    code = main(["meta-train", "--data", str(src), "--group-by", "surface,adsorbate",
                 "--targets", "surface=Au", "--task", "s2ef", "--energy-target", "total",
                 "--out", str(out), "--meta-steps", "6", "--checkpoint-every", "3",
                 "--config", _yaml(tmp), *TINY])
    assert code == 0
    return tmp, out


def test_meta_train_writes_a_loadable_resumable_run(meta_run):
    tmp, out = meta_run
    for name in ("checkpoint.pt", "last.pt", "config.yaml", "tasks.json", "log.csv"):
        assert (out / name).exists()
    log = (out / "log.csv").read_text().splitlines()
    assert log[0] == "step,meta_loss,time_s" and len(log) == 7
    assert float(log[-1].split(",")[1]) > 0
    tasks = json.loads((out / "tasks.json").read_text())
    assert "Au|CO" in tasks["target"] and "Au|CO" not in tasks["source"]
    model, payload = load_checkpoint(out / "checkpoint.pt")
    assert payload["metadata"]["meta"]["meta_steps"] == 6
    # resume to more steps continues where it stopped
    assert main(["meta-train", "--out", str(out), "--resume", "--meta-steps", "7",
                 "--no-progress"]) == 0
    _, payload = load_checkpoint(out / "checkpoint.pt")
    assert payload["metadata"]["meta"]["meta_steps"] == 7
    assert payload["metadata"]["meta"]["zero_shot_weight"] == 1.0  # the default


def test_resuming_a_run_from_before_the_zero_shot_term_keeps_it_off(meta_run, tmp_path):
    import shutil

    import yaml

    _, out = meta_run
    old = tmp_path / "old"
    shutil.copytree(out, old)
    cfg = yaml.safe_load((old / "config.yaml").read_text())
    del cfg["zero_shot_weight"]  # as written before the term existed
    (old / "config.yaml").write_text(yaml.safe_dump(cfg))
    assert main(["meta-train", "--out", str(old), "--resume", "--meta-steps", "8",
                 "--no-progress"]) == 0
    _, payload = load_checkpoint(old / "checkpoint.pt")
    assert payload["metadata"]["meta"]["zero_shot_weight"] == 0.0


def test_adapt_on_five_structures_beats_zero_shot(meta_run):
    tmp, out = meta_run
    new = [emt_slab("Ag", "CO", seed) for seed in range(100, 110)]  # an unseen system
    support, query = new[:5], new[5:]
    write(tmp / "support.extxyz", support)
    adapted_path = tmp / "adapted.pt"
    assert main(["adapt", str(out / "checkpoint.pt"), "--support",
                 str(tmp / "support.extxyz"), "-o", str(adapted_path)]) == 0
    base, _ = load_checkpoint(out / "checkpoint.pt")
    adapted, payload = load_checkpoint(adapted_path)
    assert payload["metadata"]["adaptation"]["choice"] != "zero-shot"
    assert _mae(adapted, query) < 0.9 * _mae(base, query)
    calc = MetaLegNetCalculator.from_checkpoint(adapted_path)
    atoms = query[0].copy()
    atoms.calc = calc
    assert np.isfinite(atoms.get_potential_energy())


def test_bad_input_is_one_line(meta_run, tmp_path, capsys):
    tmp, out = meta_run
    assert main(["adapt", str(out / "checkpoint.pt"), "--support",
                 str(tmp_path / "nope.extxyz"), "-o", str(tmp_path / "a.pt")]) == 2
    assert main(["adapt", str(tmp_path / "none.pt"), "--support",
                 str(tmp / "support.extxyz"), "-o", str(tmp_path / "a.pt")]) == 2
    assert main(["meta-train", "--data", str(tmp / "source.extxyz"), "--group-by",
                 "facet_nope", "--task", "s2e", "--energy-target", "total",
                 "--out", str(tmp_path / "r"), *TINY]) == 2
    assert main(["adapt", str(out / "checkpoint.pt"), "--support",
                 str(tmp / "support.extxyz"), "-o", str(tmp_path / "a.pt"), "--steps",
                 "-1"]) == 2
    # meta-trained from scratch: no error on unseen tasks is known for the shrunk policy
    assert main(["adapt", str(out / "checkpoint.pt"), "--support",
                 str(tmp / "support.extxyz"), "-o", str(tmp_path / "a.pt"), "--k1-policy",
                 "shrunk"]) == 2
    err = [line for line in capsys.readouterr().err.strip().splitlines()
           if not line.startswith("metalegnet: warning:")]
    assert len(err) == 5 and all(line.startswith("metalegnet: error:") for line in err)
    assert "facet_nope" in err[2] and "--k1-policy shrunk" in err[4]


def test_ridge_head_adapts_a_checkpoint_trained_on_forces_with_its_forces(meta_run):
    tmp, out = meta_run  # an s2ef MAML checkpoint
    new = [emt_slab("Ag", "CO", seed) for seed in range(100, 110)]
    write(tmp / "support_head.extxyz", new[:5])
    adapted_path = tmp / "adapted_head.pt"
    assert main(["adapt", str(out / "checkpoint.pt"), "--support",
                 str(tmp / "support_head.extxyz"), "-o", str(adapted_path), "--method",
                 "ridge-head"]) == 0
    adapted, payload = load_checkpoint(adapted_path)
    info = payload["metadata"]["adaptation"]
    assert info["method"] == "ridge-head" and info["choice"] != "zero-shot"
    base, _ = load_checkpoint(out / "checkpoint.pt")
    assert _mae(adapted, new[5:]) < 0.9 * _mae(base, new[5:])
