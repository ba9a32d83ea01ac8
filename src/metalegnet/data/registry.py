"""Embedded real DFT data sets, loadable by name (provenance and licences: ``PROVENANCE.md``
in ``metalegnet/data/embedded``).

==================  ======================================================================
name                contents (energies in eV, forces in eV/Å)
==================  ======================================================================
``oc20-mini``       31 OC20 relaxation trajectories, 5,296 frames: total energy + forces
``oc22-mini``       32 OC22 oxide S2EF frames (16 train + 16 val): total energy + forces
``xu-kitchin``      1,106 relaxed adsorbate/fcc(111) structures: ``e_ads`` (vs. atoms)
``mamun-subset``    31 relaxed adslabs on Cu/Ag/Au/Pd/Pt(111): ``e_ads``, ``total_energy``
``c3-cu111``        364 C3 oxygenates on Cu(111): total energy, forces, ``eads_real``
``pdn-ceria``       69 CO on Pd_n/CeO2(111): ``e_ads``, no forces
``gamenet-fg``      3,108 relaxed C/H/O/N/S organics on 14 metals (GAME-Net FG-dataset):
                    total energy, ``e_ads`` = E_tot - E_slab - E_gas, no forces
``gamenet-fg-       the 14 clean slabs and 207 gas molecules behind gamenet-fg's ``e_ads``
references``        (``info["calc_type"]`` = ``slab`` / ``gas``): total energies
``wwl-simple``      1,422 C/CH/CH2/CH3/CO/H/O/OH on 19 metal, alloy and single-atom-alloy
                    surfaces, mostly (211) (WWL-GPR): ``e_ads``, ``site``; total energy and
                    forces on 150 only
``wwl-complex``     369 C2 oxygenates on Pt, Ru (111)/(211), CuCo(111), PdRh(111) (WWL-GPR
                    extrapolation set): ``e_ads``, total energy, forces
``wwl-gpr``         wwl-complex followed by wwl-simple (1,791 structures)
``bench-3d-ml``     generated (``--recipe bench-3d-ml``, SevenNet-0 labels): polyatomic
                    adsorbates relaxed on 12 metal/alloy slabs, 79 trajectories, 1,377 frames
                    (first, last, every 4th): energy, forces, ``e_ads``
``fewshot-3d-ml``   generated (``--recipe fewshot-3d-ml``, SevenNet-0): CHOHCH2OH relaxed on
                    Cu fcc(100) and AuNi L1_0 fcc(211), the few-shot S2F target (first,
                    last, every 4th frame): energy, forces, ``e_ads``
``bench-0d-ml``     generated (``--recipe bench-0d-ml``, SevenNet-0): polyatomic adsorbates
                    relaxed on 12 mono/bimetallic nanoclusters (19-39 atoms), 66
                    trajectories, 1,080 frames (first, last, every 4th): energy, forces,
                    ``e_ads``
``fewshot-0d-ml``   generated (``--recipe fewshot-0d-ml``, SevenNet-0): CH2CO on the
                    trimetallic NiPtAu dec19 and NiCuPt oct38, the few-shot S2F target of the
                    0D setting, 11 trajectories, 284 frames: energy, forces, ``e_ads``
``bench-2d-ml``     generated (``--recipe bench-2d-ml``, SevenNet-0): adsorbates other than OH
                    relaxed on 12 2D sheets (MoS2, WS2, graphene, h-BN; pristine, doped,
                    vacancy), 107 trajectories, 1,409 frames: energy, forces, ``e_ads``
``fewshot-2d-ml``   generated (``--recipe fewshot-2d-ml``, SevenNet-0): OH relaxed from 10
                    starts on each of 4 sheets, the few-shot IS2RE target of the 2D setting,
                    40 trajectories, 466 frames: energy, forces, ``e_ads``
==================  ======================================================================

Files are read once per process and cached; :func:`load` returns fresh copies.
"""

from __future__ import annotations

import functools
import json
from importlib.resources import files
from pathlib import Path

from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

from metalegnet.errors import DataError

#: name -> (folder in ``embedded``, file glob)
_SETS: dict[str, tuple[str, str]] = {
    "oc20-mini": ("oc20_traj", "*.extxyz.xz"),
    "oc22-mini": ("oc22_frames", "*.extxyz"),
    "xu-kitchin": ("xu_kitchin_2014", "*.extxyz.xz"),
    "mamun-subset": ("mamun2019_subset", "adslabs.extxyz"),
    "c3-cu111": ("c3_cu111", "*.extxyz.xz"),
    "pdn-ceria": ("pdn_co_ceria", "*.extxyz"),
    "gamenet-fg": ("gamenet_fg", "gamenet_fg.extxyz.xz"),
    "gamenet-fg-references": ("gamenet_fg", "references.extxyz.xz"),
    "wwl-simple": ("wwl_gpr", "simple.extxyz.xz"),
    "wwl-complex": ("wwl_gpr", "complex_extrapolation.extxyz.xz"),
    "wwl-gpr": ("wwl_gpr", "*.extxyz.xz"),
    "bench-3d-ml": ("bench_3d_ml", "*.extxyz.xz"),
    "fewshot-3d-ml": ("fewshot_3d_ml", "*.extxyz.xz"),
    "bench-0d-ml": ("bench_0d_ml", "*.extxyz.xz"),
    "fewshot-0d-ml": ("fewshot_0d_ml", "*.extxyz.xz"),
    "bench-2d-ml": ("bench_2d_ml", "*.extxyz.xz"),
    "fewshot-2d-ml": ("fewshot_2d_ml", "*.extxyz.xz"),
}
_MAMUN_JSON = "Mamun_noble_C1_subset_adsorption.json"


def available() -> list[str]:
    """Names of the embedded data sets."""
    return list(_SETS)


def embedded_root() -> Path:
    """Folder that holds the embedded data (inside the installed package)."""
    return Path(str(files("metalegnet.data.embedded")))


def data_files(name: str) -> list[Path]:
    """The files of data set ``name``, sorted."""
    if name not in _SETS:
        raise DataError(f"unknown embedded data set; choose one of {', '.join(available())}",
                        source=name)
    folder, pattern = _SETS[name]
    paths = sorted((embedded_root() / folder).glob(pattern))
    if not paths:
        raise DataError("embedded data files are missing from the installation", source=name)
    return paths


def _merge_mamun_e_ads(frames: list[Atoms], json_path: Path) -> None:
    table = json.loads(json_path.read_text())
    for atoms in frames:
        entry = table.get(atoms.info.get("reaction"))
        if "e_ads" not in atoms.info and entry is not None:
            atoms.info["e_ads"] = float(entry["ref_ads_eng"])


@functools.cache
def _read_cached(path: str) -> tuple[Atoms, ...]:
    from metalegnet.data.io import read_file

    frames = read_file(path)
    if Path(path).name == "adslabs.extxyz":
        _merge_mamun_e_ads(frames, Path(path).parent / _MAMUN_JSON)
    return tuple(frames)


def copy_atoms(atoms: Atoms) -> Atoms:
    """``atoms.copy()`` that keeps the single-point energy and forces (``copy`` drops the
    calculator)."""
    new = atoms.copy()
    if atoms.calc is not None:
        results = {k: (v.copy() if hasattr(v, "copy") else v)
                   for k, v in atoms.calc.results.items()}
        new.calc = SinglePointCalculator(new, **results)
    return new


def load(name: str, index: int | slice | str = ":") -> list[Atoms]:
    """Load embedded data set ``name`` (see :func:`available`) as ASE ``Atoms``.

    Args:
        name: data set name, e.g. ``"oc20-mini"``.
        index: selection within each file (``"0"``: the initial frame of each OC20
            trajectory; ``"-1"``: the relaxed one).
    """
    from metalegnet.data.io import select_frames

    out: list[Atoms] = []
    for path in data_files(name):
        frames = _read_cached(str(path))
        out.extend(copy_atoms(a) for a in select_frames(frames, index, str(path)))
    return out
