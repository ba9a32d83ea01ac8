"""Random placement, site names and anomaly detection."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import add_adsorbate, fcc100, fcc111
from ase.constraints import FixAtoms
from ase.data import covalent_radii

from metalegnet.data.generate.builders import (
    build_2d,
    build_cluster,
    build_metal_slab,
    finalize,
    hold_bottom,
)
from metalegnet.errors import ConfigError
from metalegnet.surface.adsorbates import ADSORBATES
from metalegnet.surface.anomalies import detect_anomalies
from metalegnet.surface.placement import PlacementConfig, place_adsorbate
from metalegnet.surface.sites import classify_site


def _contacts(adslab, n_sub):
    """Adsorbate-substrate distance minus the covalent-radius sum, per pair (mic)."""
    d = adslab.get_all_distances(mic=True)[n_sub:, :n_sub]
    r = covalent_radii[adslab.numbers[n_sub:]][:, None] + covalent_radii[adslab.numbers[:n_sub]]
    return d - r


@pytest.mark.parametrize("name", ["O", "CO", "OCH3", "CH2CO", "CHOHCH2OH"])
def test_height_touches_with_the_gap(name):
    slab = build_metal_slab("fcc", "111", "Pt")
    gap = 0.1
    for seed in range(5):
        adslab, placement = place_adsorbate(slab, ADSORBATES[name], "3d",
                                            np.random.default_rng(seed))
        excess = _contacts(adslab, len(slab))
        # No overlap, and the closest contact is exactly the gap (placement is not too high).
        assert excess.min() == pytest.approx(gap, abs=1e-6)
        assert placement.site_label in {"top", "bridge", "fcc", "hcp"}


def test_adslab_conventions():
    slab = build_metal_slab("fcc", "100", "Cu")
    adslab, placement = place_adsorbate(slab, ADSORBATES["NH3"], "3d",
                                        np.random.default_rng(1))
    tags = adslab.get_tags()
    assert list(tags[len(slab):]) == [2, 2, 2, 2]
    assert list(tags[:len(slab)]) == list(slab.get_tags())
    fixed = [c for c in adslab.constraints if isinstance(c, FixAtoms)]
    assert sorted(fixed[0].index) == list(np.flatnonzero(slab.get_tags() == 0))
    assert adslab.get_chemical_symbols()[len(slab)] == "N"  # binding atom first
    # Binding atom lowest: the heuristic orientation puts it nearest the surface.
    ads_z = adslab.positions[len(slab):, 2]
    assert ads_z[0] == ads_z.min()
    assert 0.0 < placement.height < 4.0


def test_same_seed_same_placement_and_random_mode():
    slab = build_metal_slab("fcc", "111", "Au")
    a, pa = place_adsorbate(slab, ADSORBATES["OH"], "3d", np.random.default_rng(5))
    b, pb = place_adsorbate(slab, ADSORBATES["OH"], "3d", np.random.default_rng(5))
    assert np.array_equal(a.positions, b.positions) and pa.site_label == pb.site_label
    c, pc = place_adsorbate(slab, ADSORBATES["OH"], "3d", np.random.default_rng(6))
    assert not np.allclose(a.positions[-2:], c.positions[-2:])
    r, pr = place_adsorbate(slab, ADSORBATES["CH3"], "3d", np.random.default_rng(2),
                            PlacementConfig(mode="random"))
    assert pr.binding_index == -1 and _contacts(r, len(slab)).min() >= 0.1 - 1e-6
    with pytest.raises(ConfigError):
        PlacementConfig(mode="upright")


def test_sites_are_uniform_over_the_cell():
    slab = build_metal_slab("fcc", "111", "Pt")
    inv = np.linalg.inv(slab.cell[:2, :2])
    fracs = []
    for seed in range(200):
        _, p = place_adsorbate(slab, ADSORBATES["H"], "3d", np.random.default_rng(seed))
        fracs.append(p.site[:2] @ inv)
    fracs = np.array(fracs)
    assert fracs.min() >= 0 and fracs.max() <= 1
    assert np.all(np.abs(fracs.mean(axis=0) - 0.5) < 0.06)


def test_cluster_placement_is_outside_and_along_the_normal():
    cluster = build_cluster("ico55", "Pt")
    centre = cluster.positions.mean(axis=0)
    r_max = np.linalg.norm(cluster.positions - centre, axis=1).max()
    for seed in range(5):
        adslab, p = place_adsorbate(cluster, ADSORBATES["CO"], "0d",
                                    np.random.default_rng(seed))
        assert _contacts(adslab, len(cluster)).min() == pytest.approx(0.1, abs=1e-6)
        c = adslab.positions[len(cluster)]
        assert np.linalg.norm(c - centre) > r_max * 0.8
        assert np.dot(p.normal, p.site - centre) > 0  # outward normal


def test_no_falling_through_a_graphene_hole():
    sheet = build_2d("graphene")
    top = sheet.positions[:, 2].max()
    for seed in range(20):
        adslab, _ = place_adsorbate(sheet, ADSORBATES["H"], "2d", np.random.default_rng(seed))
        assert adslab.positions[-1, 2] >= top + 0.5 - 1e-9


def _slab_with(site, element="O", metal="Pt", facet=fcc111):
    slab = facet(metal, size=(3, 3, 4), vacuum=8.0)
    slab = finalize(slab, hold_bottom(slab))
    tags = slab.get_tags()
    add_adsorbate(slab, element, 1.9 if site == "ontop" else 1.2, site)
    slab.set_tags(np.append(tags, 2))
    return slab


@pytest.mark.parametrize("site,label", [("ontop", "top"), ("bridge", "bridge"),
                                        ("fcc", "fcc"), ("hcp", "hcp")])
def test_classify_site_on_fcc111(site, label):
    adslab = _slab_with(site)
    assert classify_site(adslab, len(adslab) - 1) == label


def test_classify_hollow4_and_unbound():
    adslab = _slab_with("hollow", facet=fcc100)
    assert classify_site(adslab, len(adslab) - 1) == "hollow-4"
    adslab.positions[-1, 2] += 5.0
    assert classify_site(adslab, len(adslab) - 1) == "none"


def test_anomalies():
    slab = build_metal_slab("fcc", "111", "Pt")
    initial, _ = place_adsorbate(slab, ADSORBATES["CO"], "3d", np.random.default_rng(0))
    n = len(slab)
    assert detect_anomalies(initial, initial.copy(), slab) == []
    desorbed = initial.copy()
    desorbed.positions[n:, 2] += 4.0
    assert detect_anomalies(initial, desorbed, slab) == ["desorbed"]
    broken = initial.copy()
    broken.positions[n + 1] += [2.5, 0.0, 0.0]  # O leaves C: CO dissociates
    assert "dissociated" in detect_anomalies(initial, broken, slab)
    rebuilt = initial.copy()
    top = int(np.argmax(slab.positions[:, 2]))
    rebuilt.positions[top, 2] += 3.5  # a surface atom pops out (beyond the 1.5x cushion)
    assert "surface_changed" in detect_anomalies(initial, rebuilt, slab)
    # Tiny relaxations of the substrate are not a reconstruction.
    wiggle = initial.copy()
    wiggle.positions[:n] += np.random.default_rng(0).normal(0, 0.03, (n, 3))
    assert detect_anomalies(initial, wiggle, slab) == []


def test_exploded_relaxation_is_flagged_and_its_labels_dropped():
    from ase.calculators.singlepoint import SinglePointCalculator

    from metalegnet.surface.anomalies import drop_exploded_labels

    slab = build_metal_slab("fcc", "111", "Pt")
    initial, _ = place_adsorbate(slab, ADSORBATES["CO"], "3d", np.random.default_rng(0))
    n = len(initial)
    frames = []
    for energy, force in ((-5.0 * n, 1.0), (-2e7, 3e8), (-5.1 * n, 0.01)):
        frame = initial.copy()
        frame.calc = SinglePointCalculator(frame, energy=energy,
                                           forces=np.full((n, 3), force))
        frames.append(frame)
    assert detect_anomalies(frames[0], frames[-1], slab, [frames[0], frames[-1]]) == []
    assert detect_anomalies(frames[0], frames[-1], slab, frames) == ["exploded"]
    frames[1].calc.results["forces"] = np.zeros((n, 3))  # the energy alone is impossible
    assert detect_anomalies(frames[0], frames[-1], slab, frames) == ["exploded"]
    assert drop_exploded_labels(frames) == 1
    assert frames[1].calc is None and frames[0].calc is not None


def test_exploded_trajectory_gets_no_labels(tmp_path):
    """An oracle whose adslab energies explode: flagged, no e_ads even when anomalies are
    kept, and the impossible energies are not written."""
    import ase.io
    from ase.calculators.emt import EMT

    from metalegnet.data.generate.plan import SystemJob, TrajectoryJob
    from metalegnet.data.generate.presets import SystemSpec
    from metalegnet.data.generate.references import GasReferences
    from metalegnet.data.generate.trajectory import JobContext, run_system_job
    from metalegnet.surface.relax import RelaxConfig

    class Exploding(EMT):
        def calculate(self, atoms=None, properties=("energy",), system_changes=()):
            super().calculate(atoms, properties, system_changes)
            if (self.atoms.get_tags() == 2).any():
                self.results["energy"] *= 1e7
                self.results["free_energy"] = self.results["energy"]

    spec = SystemSpec("x-0", "alloy-surface", "3d", "Pt(111)", "metal_slab",
                      {"lattice": "fcc", "facet": "111", "host": "Pt", "order": "pure",
                       "seed": 0})
    job = SystemJob(0, spec, (TrajectoryJob("x-0-CO-0", "CO", 0, (0, 0)),))
    refs = GasReferences("emt", {}, {"C": -1.0, "O": -1.0, "H": -1.0})
    ctx = JobContext(str(tmp_path), "emt", refs, RelaxConfig(fmax=0.5, max_steps=30),
                     PlacementConfig(), keep_anomalies=True)
    (record,) = run_system_job(job, ctx, Exploding())
    assert "exploded" in record["anomalies"] and record["e_ads"] is None
    frames = ase.io.read(tmp_path / "x-0-CO-0.extxyz", ":")
    assert all(f.calc is None and "e_ads" not in f.info for f in frames)
