"""A reusable model test suite (in the style of nequip's ``model_tests_basic.py``).

Subclass :class:`BaseModelTests` and provide the fixtures ``model`` (returning a
:class:`metalegnet.model.LegNetOutput`-like object), ``exact_rotation`` (True, False or "all":
whether rotation invariance is claimed exactly on periodic slabs, or on clusters too) and
``exact_periodic_translation`` (whether translations across the periodic boundary are exact).
Optional fixtures (default True) declare the properties of nequip's energy-model tests that
not every model has: ``separable`` (the energy of fragments far apart is the sum of theirs) and
``smooth_cutoff`` (energy and forces are continuous where a neighbour crosses the cutoff).
Return a string instead of False to say why; the test then skips with it.
Each test checks one symmetry or consistency property on small real-looking structures.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from metalegnet import inference
from metalegnet.data.graph import atoms_to_graph, collate
from metalegnet.testing.structures import cluster, rotated, slab_with_adsorbate

#: relative tolerances for properties that hold exactly (floating point only)
TOL = {torch.float32: 1e-5, torch.float64: 1e-9}


def predict(model, atoms_list, dtype=torch.float64):
    """Energies [G] and forces [N, 3] (numpy, float64) for a list of ASE structures."""
    graph = collate([atoms_to_graph(a, model.cutoff, dtype=dtype) for a in atoms_list])
    out = inference.forward(model, graph)  # the one inference path (no input checks here)
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

    @pytest.fixture
    def separable(self):
        """Override: True if fragments far apart do not interact (energies add up, up to a
        per-graph constant, and forces are the fragments' own); else the reason they do."""
        return True

    @pytest.fixture
    def smooth_cutoff(self):
        """Override: True if energy and forces are continuous where a neighbour crosses the
        cutoff and vanish beyond it; else the reason they are not."""
        return True

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

    # ------------------------------------------------ nequip-style energy-model checks
    def test_cross_frame_grad(self, typed_model, dtype):
        """In a batch, nothing of one graph depends on the positions of another:
        dE_g/dx_j = 0 for atoms j of other graphs (and dF_g/dx_j = 0 for direct forces)."""
        atoms_list = list(structures().values())
        graph = collate([atoms_to_graph(a, typed_model.cutoff, dtype=dtype)
                         for a in atoms_list])
        pos = graph.pos.detach().clone().requires_grad_(True)
        graph.pos = pos
        with torch.enable_grad():
            out = typed_model(graph, compute_forces=False)
            forces = None
            if not typed_model.needs_position_grad(True):  # direct forces: a function of x
                forces = typed_model(graph).forces
            weights = torch.randn(graph.num_atoms, 3, dtype=dtype,
                                  generator=torch.Generator().manual_seed(0))
            for g in range(graph.num_graphs):
                mine = graph.batch == g
                targets = [out.energy[g]]
                if forces is not None:
                    targets.append((forces[mine] * weights[mine]).sum())
                for target in targets:
                    (grad,) = torch.autograd.grad(target, pos, retain_graph=True,
                                                  allow_unused=True)
                    grad = torch.zeros_like(pos) if grad is None else grad
                    assert float(grad[~mine].abs().max()) == 0.0, g
                    assert float(grad[mine].abs().max()) > 0.0, g

    def test_large_separation(self, typed_model, dtype, separable):
        """Two fragments 40 Å apart in one non-periodic graph: forces are each fragment's own
        and the energy is the sum of the fragments' (up to a per-graph constant, so compared
        as E(A'+B) - E(A+B) = E(A') - E(A) for a distorted A'); moving one fragment rigidly
        changes nothing."""
        if separable is not True:
            pytest.skip(str(separable or "not separable"))
        a = cluster()
        b = cluster(seed=4)[[0, 1, 2, 3, 13, 14]]
        b.positions += np.array([40.0, 3.0, -2.0])
        rng = np.random.default_rng(5)
        a2 = a.copy()
        a2.positions += rng.normal(scale=0.05, size=a.positions.shape)
        b_moved = b.copy()
        b_moved.positions += rng.normal(scale=2.0, size=3)
        e, f = predict(typed_model, [a + b, a2 + b, a + b_moved, a, a2, b], dtype)
        tol = {torch.float32: 1e-4, torch.float64: 1e-10}[dtype]
        n = len(a)
        assert abs((e[1] - e[0]) - (e[4] - e[3])) < tol * max(1.0, abs(e[0]))
        assert abs(e[2] - e[0]) < tol * max(1.0, abs(e[0]))
        both = f[:n + len(b)]
        f_a = f[3 * (n + len(b)):3 * (n + len(b)) + n]
        f_b = f[-len(b):]
        assert rel_err(both, np.concatenate([f_a, f_b])) < tol

    def test_cutoff_smoothness(self, typed_model, dtype, smooth_cutoff):
        """A dimer stretched across the cutoff r_c: E(r_c - d) and E(r_c + d) differ by less
        than 1e-6 eV, the forces at r_c - d are below 1e-5 eV/Å and vanish beyond r_c. (The
        dimer lies along the body diagonal, so voxel models keep it in one voxel.)"""
        if smooth_cutoff is not True:
            pytest.skip(str(smooth_cutoff or "no smooth cutoff"))
        if dtype != torch.float64:
            pytest.skip("a 1e-6 Å step needs float64")
        from ase import Atoms

        rc = typed_model.cutoff
        axis = np.ones(3) / np.sqrt(3.0)
        dimers = [Atoms("CuO", positions=[[0.3, 0.2, 0.1], np.array([0.3, 0.2, 0.1]) + r * axis])
                  for r in (rc - 1e-3, rc - 1e-6, rc + 1e-6, rc + 1e-3)]
        energies, forces = [], []
        for d in dimers:
            e, f = predict(typed_model, [d], dtype)
            energies.append(e[0])
            forces.append(f)
        assert abs(energies[1] - energies[2]) < 1e-6, energies
        assert abs(energies[0] - energies[1]) < 1e-4, energies
        assert np.abs(forces[1]).max() < 1e-5, forces[1]
        assert np.abs(forces[2]).max() < 1e-12 and np.abs(forces[3]).max() < 1e-12

    def test_numeric_gradient(self, typed_model, dtype):
        """Conservative forces against central differences of the energy: float64 tightly
        (step 1e-5 Å), float32 loosely (step 1e-3 Å); on the slab, atoms near and across the
        periodic boundary, and on the cluster. Steps that carry a pair across the cutoff are
        left out (that is test_cutoff_smoothness's business)."""
        if not typed_model.needs_position_grad(True):
            pytest.skip("direct force head: forces are not -dE/dx")
        eps, rtol, atol = ((1e-5, 1e-6, 1e-6) if dtype == torch.float64 else (1e-3, 1e-2, 5e-3))
        cutoff = typed_model.cutoff
        for name in ("slab_mixed_pbc", "cluster"):
            atoms = structures()[name]
            _, forces = predict(typed_model, [atoms], dtype)
            n_edges = atoms_to_graph(atoms, cutoff).edge_index.shape[1]
            picks, displaced = [], []
            for idx, k in [(i, k) for i in (0, len(atoms) // 2, len(atoms) - 1)
                           for k in range(3)]:
                pair = []
                for sign in (1, -1):
                    moved = atoms.copy()
                    moved.positions[idx, k] += sign * eps
                    pair.append(moved)
                if all(atoms_to_graph(m, cutoff).edge_index.shape[1] == n_edges for m in pair):
                    picks.append((idx, k))
                    displaced += pair
            assert len(picks) >= 6, name
            energies, _ = predict(typed_model, displaced, dtype)
            fd = -(energies[0::2] - energies[1::2]) / (2 * eps)
            autograd = np.array([forces[idx, k] for idx, k in picks])
            assert np.abs(autograd).max() > 1e-3, name
            np.testing.assert_allclose(autograd, fd, rtol=rtol, atol=atol, err_msg=name)
