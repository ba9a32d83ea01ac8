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
    model.set_energy_normalization(scale=0.3, shift_atom=0.1, element_references=refs)
    path = tmp_path / "ckpt.pt"
    save_checkpoint(path, model, metadata={"task": "s2ef"})
    payload = torch.load(path, weights_only=True)
    assert payload["config"]["variant"] == "coarsen"
    assert payload["energy_references"][78] == pytest.approx(-6.0)
    loaded, payload = load_checkpoint(path)
    assert loaded.config == cfg
    atoms = slab_with_adsorbate()
    atoms.calc = MetaLegNetCalculator(model)
    e1 = atoms.get_potential_energy()
    atoms2 = atoms.copy()
    atoms2.calc = MetaLegNetCalculator.from_checkpoint(path)
    assert atoms2.get_potential_energy() == pytest.approx(e1, rel=1e-6)


def test_bad_checkpoint_is_clear(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="bad.pt"):
        read_checkpoint(bad)
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        read_checkpoint(tmp_path / "missing.pt")
