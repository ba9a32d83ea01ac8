"""Checkpoints round-trip through torch.load(weights_only=True) with config and references."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from metalegnet import LegNet, LegNetConfig, MetaLegNetCalculator
from metalegnet.checkpoint import load_checkpoint, read_checkpoint, save_checkpoint
from metalegnet.errors import CheckpointError
from metalegnet.testing.structures import slab_with_adsorbate


def test_round_trip(tmp_path):
    torch.manual_seed(0)
    cfg = LegNetConfig(variant="coarsen", voxel_frame="cartesian", num_features=16,
                       num_blocks=1, cutoff=4.0, voxel_sizes=(4.0,))
    model = LegNet(cfg).eval()
    refs = np.zeros(119)
    refs[78], refs[8], refs[1] = -6.0, -7.5, -3.4
    model.normalization.set(scale=0.3, shift_atom=0.1, element_references=refs)
    path = tmp_path / "ckpt.pt"
    save_checkpoint(path, model, metadata={"task": "s2ef"})
    payload = torch.load(path, weights_only=True)
    assert payload["config"]["variant"] == "coarsen"
    # the normalisation is stored once, in the state dict
    assert float(payload["state_dict"]["normalization.element_references"][78]) == \
        pytest.approx(-6.0)
    assert "energy_references" not in payload
    assert "normalization" not in payload["metadata"]
    loaded, payload = load_checkpoint(path)
    assert loaded.config == cfg
    atoms = slab_with_adsorbate()
    atoms.calc = MetaLegNetCalculator(model)
    e1 = atoms.get_potential_energy()
    atoms2 = atoms.copy()
    atoms2.calc = MetaLegNetCalculator.from_checkpoint(path)
    assert atoms2.get_potential_energy() == pytest.approx(e1, rel=1e-6)


def test_legacy_checkpoint_loads(tmp_path):
    """Checkpoints written before the normalisation was a submodule still load."""
    torch.manual_seed(0)
    model = LegNet(LegNetConfig(variant="vanilla", num_features=8, num_blocks=1)).eval()
    model.normalization.set(scale=0.3, shift_atom=0.1)
    path = tmp_path / "old.pt"
    save_checkpoint(path, model)
    payload = torch.load(path, weights_only=True)
    state = {k.replace("normalization.", ""): v for k, v in payload["state_dict"].items()
             if k != "normalization.known_elements"}
    payload["state_dict"] = state
    torch.save(payload, path)
    loaded, _ = load_checkpoint(path)
    assert float(loaded.normalization.energy_scale) == pytest.approx(0.3)
    assert bool(loaded.normalization.known_elements.all())


def test_bad_checkpoint_is_clear(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="bad.pt"):
        read_checkpoint(bad)
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        read_checkpoint(tmp_path / "missing.pt")


@pytest.mark.parametrize("payload,problem", [
    ({}, "missing key 'model_name'"),
    ({"model_name": "legnet"}, "missing key 'config'"),
    ({"model_name": 3, "config": {}, "state_dict": {}}, "'model_name' is a int, expected a str"),
    ({"model_name": "legnet", "config": [], "state_dict": {}},
     "'config' is a list, expected a dict"),
    ({"model_name": "legnet", "config": {}, "state_dict": {"w": 1.0}},
     "'state_dict' entry 'w' is not a tensor"),
    ({"model_name": "legnet", "config": {}, "state_dict": {}, "metadata": "x"},
     "'metadata' is a str, expected a dict"),
])
def test_incomplete_checkpoint_is_one_line(tmp_path, capsys, payload, problem):
    from metalegnet.checkpoint import FORMAT
    from metalegnet.cli import main

    path = tmp_path / "hollow.pt"
    torch.save({"format": FORMAT, **payload}, path)
    expected = f"{path}: incomplete checkpoint: {problem}"
    with pytest.raises(CheckpointError) as err:
        read_checkpoint(path)
    assert str(err.value) == expected
    with pytest.raises(CheckpointError, match="incomplete checkpoint"):
        MetaLegNetCalculator.from_checkpoint(path)
    for argv in (["evaluate", str(path), "--data", "pdn-ceria"],
                 ["predict", str(path), "pdn-ceria", "-o", str(tmp_path / "p.extxyz")]):
        assert main(argv) == 2
        assert capsys.readouterr().err == f"metalegnet: error: {expected}\n"
