"""Adsorbates, builders and presets of the data generator."""

from __future__ import annotations

import numpy as np
import pytest
from ase.constraints import FixAtoms

from metalegnet.data.generate import builders
from metalegnet.data.generate.presets import (
    PresetConfig,
    build_system,
    families,
    sample_system,
    usable_families,
)
from metalegnet.errors import ConfigError
from metalegnet.surface.adsorbates import (
    ADSORBATES,
    FEWSHOT_EXTRA,
    OC20_COMMON,
    get_adsorbate,
)

EMT_METALS = frozenset({"Al", "Ni", "Cu", "Pd", "Ag", "Pt", "Au"})


def test_adsorbate_set_is_the_oc20_set_plus_fewshot():
    assert set(ADSORBATES) == set(OC20_COMMON) | set(FEWSHOT_EXTRA)
    assert len(OC20_COMMON) == 17
    with pytest.raises(ConfigError, match="unknown adsorbate 'XYZ'"):
        get_adsorbate("XYZ")


@pytest.mark.parametrize("name", sorted(ADSORBATES))
def test_adsorbate_geometry(name):
    ads = ADSORBATES[name]
    atoms = ads.atoms()
    pos = atoms.positions
    assert set(ads.symbols) <= {"H", "C", "N", "O"}
    # Binding atom(s) at z = 0 (the lowest), molecule above it.
    assert np.allclose(pos[ads.binding_indices[0]], 0.0)
    assert pos[:, 2].min() >= -1e-9
    assert all(abs(pos[i, 2]) < 1e-9 for i in ads.binding_indices)
    if len(atoms) > 1:
        d = atoms.get_all_distances()
        np.fill_diagonal(d, np.inf)
        assert d.min() > 0.9  # no two atoms on top of each other
        assert d.min(axis=1).max() < 1.6  # every atom is bonded to something


def test_named_binding_atoms():
    assert ADSORBATES["CO"].symbols[0] == "C"
    assert ADSORBATES["OCH3"].symbols[0] == "O"
    assert ADSORBATES["CH2CO"].binding_indices == (0, 1)
    assert ADSORBATES["CHOHCH2OH"].atoms().get_chemical_formula() == "C2H5O2"


def _check_tags(atoms):
    tags = atoms.get_tags()
    assert set(np.unique(tags)) <= {0, 1}
    assert atoms.pbc.all()
    held = np.flatnonzero(tags == 0)
    fixed = [c for c in atoms.constraints if isinstance(c, FixAtoms)]
    if len(held):
        assert len(fixed) == 1 and sorted(fixed[0].index) == list(held)
    else:
        assert not fixed


@pytest.mark.parametrize("lattice,facet", [("fcc", "111"), ("fcc", "100"), ("fcc", "211"),
                                           ("bcc", "110"), ("bcc", "100"), ("hcp", "0001"),
                                           ("hcp", "10-10")])
def test_metal_slabs(lattice, facet):
    host = {"fcc": "Pt", "bcc": "Fe", "hcp": "Ru"}[lattice]
    slab = builders.build_metal_slab(lattice, facet, host)
    _check_tags(slab)
    z = slab.positions[:, 2]
    # Bottom half held, top half free; vacuum above and below.
    assert z[slab.get_tags() == 0].max() < z[slab.get_tags() == 1].min()
    assert slab.cell[2, 2] - (z.max() - z.min()) >= 2 * builders.VACUUM - 1e-6
    assert min(slab.cell.lengths()[:2]) > 5.0


def test_ordered_and_random_alloys():
    l12 = builders.build_metal_slab("fcc", "111", "Pt", "Ni", "L12")
    syms = l12.get_chemical_symbols()
    assert syms.count("Pt") == 3 * syms.count("Ni")
    l10 = builders.build_metal_slab("fcc", "100", "Pt", "Ni", "L10")
    assert l10.get_chemical_symbols().count("Pt") == l10.get_chemical_symbols().count("Ni")
    rnd = builders.build_metal_slab("fcc", "111", "Cu", "Au", "random", x_guest=0.25, seed=3)
    assert rnd.get_chemical_symbols().count("Au") == 9  # 25 % of 36
    again = builders.build_metal_slab("fcc", "111", "Cu", "Au", "random", x_guest=0.25, seed=3)
    assert again.get_chemical_symbols() == rnd.get_chemical_symbols()
    with pytest.raises(ConfigError):
        builders.build_metal_slab("bcc", "110", "Fe", "Mo", "L12")


@pytest.mark.parametrize("shape", sorted(builders.CLUSTER_SHAPES))
def test_clusters(shape):
    atoms = builders.build_cluster(shape, "Au", "Pd", 0.5, seed=1)
    assert len(atoms) == builders.CLUSTER_SHAPES[shape][2]
    assert 13 <= len(atoms) <= 147
    _check_tags(atoms)
    assert (atoms.get_tags() == 0).sum() >= 1  # a core atom pins the cluster
    assert (atoms.get_tags() == 1).sum() > len(atoms) / 3


@pytest.mark.parametrize("material,dopant", [("MoS2", "Co"), ("WS2", "Ni"), ("graphene", "N"),
                                             ("h-BN", "C")])
def test_2d_variants(material, dopant):
    pristine = builders.build_2d(material)
    doped = builders.build_2d(material, "dopant", dopant)
    vacancy = builders.build_2d(material, "vacancy")
    for atoms in (pristine, doped, vacancy):
        _check_tags(atoms)
    assert doped.get_chemical_symbols().count(dopant) == \
        pristine.get_chemical_symbols().count(dopant) + 1
    assert len(vacancy) == len(pristine) - 1


@pytest.mark.parametrize("formula,n_metal", [("TiO2", 12), ("RuO2", 12), ("IrO2", 12),
                                             ("SrTiO3", 8)])
def test_oxides(formula, n_metal):
    slab = builders.build_oxide(formula)
    _check_tags(slab)
    syms = slab.get_chemical_symbols()
    metal = formula[:2]
    assert syms.count(metal) == n_metal
    if formula != "SrTiO3":
        assert syms.count("O") == 2 * n_metal  # stoichiometric rutile slab


def test_emt_filters_families_and_names_missing_elements():
    usable, missing = usable_families("alloy-surface", EMT_METALS)
    assert usable and all(f.elements <= EMT_METALS for f in usable)
    assert {"Fe", "Ru", "Rh"} <= set(missing)
    assert {f.group for f in usable} == {"fcc-pure", "fcc-L12", "fcc-L10", "fcc-random"}
    usable, missing = usable_families("2d", EMT_METALS)
    assert usable == [] and {"Mo", "S", "W", "B"} <= set(missing)


def test_sampling_is_deterministic_and_rebuilds():
    fams, _ = usable_families("nanocluster", EMT_METALS, PresetConfig(max_cluster_atoms=55))
    specs = [sample_system("nanocluster", fams, np.random.default_rng(7), "x",
                           PresetConfig(max_cluster_atoms=55)) for _ in range(2)]
    assert specs[0] == specs[1]
    a, b = build_system(specs[0]), build_system(specs[1])
    assert len(a) <= 55 and a.get_chemical_symbols() == b.get_chemical_symbols()
    assert np.allclose(a.positions, b.positions)


def test_every_preset_samples_and_builds():
    rng = np.random.default_rng(0)
    for preset in ("nanocluster", "alloy-surface", "2d", "oxide"):
        fams = families(preset, PresetConfig(max_cluster_atoms=40))
        for i in range(3):
            spec = sample_system(preset, fams, rng, f"{preset}-{i}",
                                 PresetConfig(max_cluster_atoms=40))
            atoms = build_system(spec)
            assert set(atoms.get_chemical_symbols()) <= set().union(
                *(f.elements for f in fams))
            _check_tags(atoms)


def test_trimetallic_cluster_has_equal_thirds_and_vegard_spacing():
    atoms = builders.build_cluster("oct38", "Ni", "Pt", 1 / 3, seed=3, guest2="Au",
                                   x_guest2=1 / 3)
    syms = atoms.get_chemical_symbols()
    assert len(atoms) == 38 and set(syms) == {"Ni", "Pt", "Au"}
    assert syms.count("Pt") == round(38 / 3) and syms.count("Au") == round(38 / 3)
    _check_tags(atoms)
    # the Vegard lattice constant lies between the pure metals': so do the bond lengths
    d = lambda at: np.sort(at.get_all_distances()[0])[1]  # noqa: E731
    pure_ni, pure_au = (builders.build_cluster("oct38", m) for m in ("Ni", "Au"))
    assert d(pure_ni) < d(atoms) < d(pure_au)
    with pytest.raises(ConfigError):
        builders.build_cluster("oct38", "Ni", guest2="Au", x_guest2=0.3)


def test_trimetallic_group_is_opt_in():
    default = families("nanocluster")
    assert {f.group for f in default} == {"mono", "bi"}  # older plans are unchanged
    tri = families("nanocluster", PresetConfig(metals=("Ni", "Cu", "Pt", "Au"),
                                               groups=("tri",)))
    assert len(tri) == 4 and all(len(f.elements) == 3 for f in tri)  # C(4, 3)
    spec = sample_system("nanocluster", tri, np.random.default_rng(0), "t",
                         PresetConfig(groups=("tri",), max_cluster_atoms=39))
    atoms = build_system(spec)
    assert len(set(atoms.get_chemical_symbols())) == 3
    assert spec.surface.split()[0] in {"".join(sorted(f.elements, key=lambda m: (
        "Ni", "Cu", "Pt", "Au").index(m))) for f in tri}
