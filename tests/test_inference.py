"""The one inference path: checks before any forward pass, the model's cutoff, batching."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from ase import Atoms

from metalegnet import LegNet, LegNetConfig, MetaLegNetCalculator, inference
from metalegnet.checkpoint import save_checkpoint
from metalegnet.cli import main
from metalegnet.errors import DataError, UnseenElementWarning
from metalegnet.testing.structures import cluster, slab_with_adsorbate


def small_model() -> LegNet:
    torch.manual_seed(0)
    model = LegNet(LegNetConfig(variant="full", cutoff=4.5, num_features=8, num_blocks=1,
                                voxel_sizes=(4.0,)))
    model.normalization.set(scale=0.5, shift_atom=-1.0, known_elements=[1, 6, 8, 29, 78])
    return model.eval()


def bad_structures() -> dict[str, tuple[Atoms, str]]:
    nan = slab_with_adsorbate()
    nan.positions[3] = np.nan
    z0 = slab_with_adsorbate()
    z0.numbers[2] = 0
    overlap = slab_with_adsorbate()
    overlap.positions[1] = overlap.positions[0] + [0.1, 0, 0]
    zero_cell = cluster()
    zero_cell.pbc = True
    return {"nan": (nan, "NaN or inf in positions"), "z0": (z0, "unknown element"),
            "overlap": (overlap, "overlap"), "zero_cell": (zero_cell, "zero cell vector")}


@pytest.mark.parametrize("case", ["nan", "z0", "overlap", "zero_cell"])
def test_bad_input_is_one_line_in_predict_and_calculator(case):
    atoms, message = bad_structures()[case]
    model = small_model()
    with pytest.raises(DataError, match=message) as err:
        inference.predict(model, [slab_with_adsorbate(), atoms])
    assert "\n" not in str(err.value)
    atoms.calc = MetaLegNetCalculator(model)
    with pytest.raises(DataError, match=message):
        atoms.get_potential_energy()


def test_cli_predict_nan_positions_exit_2(tmp_path, capsys):
    from ase.io import write

    model = small_model()
    ckpt = tmp_path / "m.pt"
    save_checkpoint(ckpt, model)
    atoms, _ = bad_structures()["nan"]
    path = tmp_path / "bad.extxyz"
    write(path, [slab_with_adsorbate(), atoms])
    assert main(["predict", str(ckpt), str(path), "-o", str(tmp_path / "out.extxyz")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("metalegnet: error: ") and "bad.extxyz [index 1" in err
    assert "NaN or inf in positions" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "out.extxyz").exists()


def test_unseen_element_warns_once_or_errors():
    model = small_model()
    au = slab_with_adsorbate()
    au.numbers[:4] = 79  # Au: never seen
    with pytest.warns(UnseenElementWarning, match="element\\(s\\) Au never seen"):
        preds = inference.predict(model, [slab_with_adsorbate(), au, au.copy()])
    assert len(preds) == 3 and all(np.isfinite(p.energy) for p in preds)
    with pytest.raises(DataError, match="Au never seen in training"):
        inference.predict(model, [au], unseen="error")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        inference.predict(model, [au], unseen="ignore")
        inference.predict(model, [slab_with_adsorbate()])  # known elements: no warning


def test_batched_equals_single_and_calculator():
    model = small_model().double()
    structures = [slab_with_adsorbate(seed=k) for k in range(3)] + [cluster()]
    batched = inference.predict(model, structures, batch_size=3)
    for atoms, p in zip(structures, batched):
        (single,) = inference.predict(model, [atoms], batch_size=1)
        assert p.energy == pytest.approx(single.energy, rel=1e-10)
        np.testing.assert_allclose(p.forces, single.forces, atol=1e-10)
        assert p.energies.sum() == pytest.approx(p.energy, rel=1e-9)
        assert p.gate is not None and p.importance.max() == pytest.approx(1.0)
        atoms.calc = MetaLegNetCalculator(model)
        assert atoms.get_potential_energy() == pytest.approx(p.energy, rel=1e-10)


def test_forward_uses_grad_only_for_conservative_forces():
    model = small_model()
    graph = inference.build_graphs(model, [slab_with_adsorbate()])[0]
    assert graph.cutoff == model.cutoff
    with torch.no_grad():  # conservative forces still work inside no_grad
        out = inference.forward(model, graph)
    assert out.forces is not None and torch.isfinite(out.forces).all()
    out = inference.forward(model, graph, compute_forces=False)
    assert out.forces is None and not out.energy.requires_grad
