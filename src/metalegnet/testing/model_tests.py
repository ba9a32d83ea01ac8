"""A reusable model test suite (in the style of nequip's ``model_tests_basic.py``).

Subclass :class:`BaseModelTests` and provide the fixtures ``model`` (returning a
:class:`metalegnet.model.LegNetOutput`-like object), ``exact_rotation`` (True, False or "all":
whether rotation invariance is claimed exactly on periodic slabs, or on clusters too) and
``exact_periodic_translation`` (whether translations across the periodic boundary are exact).
Each test checks one symmetry or consistency property on small real-looking structures.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from metalegnet.data.graph import atoms_to_graph, collate
from metalegnet.testing.structures import cluster, rotated, slab_with_adsorbate

#: relative tolerances for properties that hold exactly (floating point only)
TOL = {torch.float32: 1e-5, torch.float64: 1e-9}


def predict(model, atoms_list, dtype=torch.float64):
    """Energies [G] and forces [N, 3] (numpy, float64) for a list of ASE structures."""
    cutoff = model.config.cutoff
    graph = collate([atoms_to_graph(a, cutoff, dtype=dtype) for a in atoms_list])
    conservative = getattr(model.config, "force_head", "direct") == "conservative"
    with torch.set_grad_enabled(conservative):
        out = model(graph)
    return out.energy.detach().double().numpy(), out.forces.detach().double().numpy()


def rel_err(a, b) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1.0))


def structures():
    return {"slab_mixed_pbc": slab_with_adsorbate((True, True, False)),
            "slab_full_pbc": slab_with_adsorbate((True, True, True), seed=1),
            "cluster": cluster()}


class BaseModelTests:
    """Symmetry and consistency checks every energy/force model must pass."""

    dtypes = (torch.float32, torch.float64)

    @pytest.fixture(params=[torch.float32, torch.float64], ids=["f32", "f64"])
    def dtype(self, request):
        return request.param

    @pytest.fixture
    def typed_model(self, model, dtype):
        return model.to(dtype)

    def test_permutation(self, typed_model, dtype):
        for name, atoms in structures().items():
            perm = np.random.default_rng(0).permutation(len(atoms))
            e1, f1 = predict(typed_model, [atoms], dtype)
            e2, f2 = predict(typed_model, [atoms[perm]], dtype)
            assert rel_err(e2, e1) < TOL[dtype], name
            assert rel_err(f2, f1[perm]) < TOL[dtype], name

    def test_translation(self, typed_model, dtype):
        """Translations that keep atoms inside the cell (clusters: any translation)."""
        for name, atoms in structures().items():
            moved = atoms.copy()
            shift = np.array([0.0, 0.0, 0.73]) if atoms.pbc.any() else np.array([1.3, -2.1, 0.7])
            moved.positions += shift
            e1, f1 = predict(typed_model, [atoms], dtype)
            e2, f2 = predict(typed_model, [moved], dtype)
            assert rel_err(e2, e1) < TOL[dtype], name
            assert rel_err(f2, f1) < TOL[dtype], name

    def test_translation_across_cell(self, typed_model, dtype, exact_periodic_translation):
        """In-plane translations that carry atoms across the periodic boundary (then wrapped).

        Only asserted where the model claims it (``exact_periodic_translation``)."""
        if not exact_periodic_translation:
            pytest.skip("voxel assignment with a min/mean origin moves under such translations")
        for name in ("slab_mixed_pbc", "slab_full_pbc"):
            atoms = structures()[name]
            e1, f1 = predict(typed_model, [atoms], dtype)
            for frac in ([0.37, 0.81, 0.0], [0.93, 0.12, 0.0]):
                moved = atoms.copy()
                moved.positions += np.array(frac) @ atoms.cell.array
                moved.wrap()
                e2, f2 = predict(typed_model, [moved], dtype)
                assert rel_err(e2, e1) < TOL[dtype], name
                assert rel_err(f2, f1) < TOL[dtype], name

    def test_wrapped_unwrapped(self, typed_model, dtype):
        """Moving atoms by lattice vectors (wrapping) changes nothing."""
        for name in ("slab_mixed_pbc", "slab_full_pbc"):
            atoms = structures()[name]
            moved = atoms.copy()
            rng = np.random.default_rng(3)
            shifts = rng.integers(-2, 3, size=(len(atoms), 3)) * atoms.pbc
            moved.positions += shifts @ atoms.cell.array
            e1, f1 = predict(typed_model, [atoms], dtype)
            e2, f2 = predict(typed_model, [moved], dtype)
            assert rel_err(e2, e1) < TOL[dtype], name
            assert rel_err(f2, f1) < TOL[dtype], name

    def test_rotation(self, typed_model, dtype, exact_rotation):
        """E invariant and F equivariant under rotation (positions and cell together).

        Where ``exact_rotation`` is False the error is measured and must stay below
        ``rotation_bound`` (documented per model)."""
        errors = []
        names = ("slab_mixed_pbc", "slab_full_pbc") + (("cluster",) if exact_rotation == "all"
                                                       else ())
        for name in names:
            atoms = structures()[name]
            e1, f1 = predict(typed_model, [atoms], dtype)
            for seed in range(3):
                rot, r = rotated(atoms, seed)
                e2, f2 = predict(typed_model, [rot], dtype)
                errors.append((rel_err(e2, e1), rel_err(f2, f1 @ r.T)))
        worst = np.max(errors, axis=0)
        if exact_rotation:
            assert worst[0] < TOL[dtype] and worst[1] < TOL[dtype], worst
        else:
            assert worst[0] < self.rotation_bound and worst[1] < self.rotation_bound, worst

    def test_batch_equals_single(self, typed_model, dtype):
        atoms_list = list(structures().values())
        e_b, f_b = predict(typed_model, atoms_list, dtype)
        singles = [predict(typed_model, [a], dtype) for a in atoms_list]
        assert rel_err(e_b, np.concatenate([s[0] for s in singles])) < TOL[dtype]
        assert rel_err(f_b, np.concatenate([s[1] for s in singles])) < TOL[dtype]

    def test_isolated_atom(self, typed_model, dtype):
        from ase import Atoms

        for atoms in (Atoms("Pt", positions=[[0, 0, 0]]),
                      Atoms("Cu2", positions=[[0, 0, 0], [30, 0, 0]])):
            e, f = predict(typed_model, [atoms], dtype)
            assert np.all(np.isfinite(e)) and np.all(np.isfinite(f))
            assert np.allclose(f, 0.0, atol=1e-6) or typed_model.config.force_head == "direct"

    def test_finite_size_values(self, typed_model, dtype):
        e, f = predict(typed_model, list(structures().values()), dtype)
        assert np.all(np.isfinite(e)) and np.all(np.isfinite(f))
