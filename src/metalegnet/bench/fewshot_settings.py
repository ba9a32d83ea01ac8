"""Few-shot settings: source data, the task rule, and the held-out target tasks.

*Choice*: a task here is one catalyst surface with every adsorbate computed on it
(``surface,facet`` in WWL-GPR, ``metal`` in Xu & Kitchin and GAME-Net FG, ``system_id`` in
the generated 0D and 3D sets): the situation of a user with a new catalyst and a handful of
DFT calculations, and the only grouping in which every target has > 20 structures (a
(surface, adsorbate) group of the complex WWL set has 7-37). The 2D IS2RE setting is the
exception: a task is one adsorbate over every sheet (see its comment). The leak check
(:func:`metalegnet.meta.tasks.check_no_leak`) refuses any target (surface, adsorbate) or
(metal, adsorbate) pair that occurs in the source.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ase import Atoms

from metalegnet.data.labels import get_labels, pair_is2re
from metalegnet.data.registry import load
from metalegnet.errors import ConfigError, DataError

#: What a setting's query is scored on.
TASKS = ("s2e", "s2f", "is2re")


def paired_is2re(structures: list[Atoms]) -> list[Atoms]:
    """IS2RE pairs as structures: per trajectory (``sid``), a copy of its initial frame whose
    ``info["e_ads"]`` is the adsorption energy of the relaxed (last) frame (eV; the initial
    frame's own value is kept as ``e_ads_initial``). Every method then fits and predicts
    ``initial structure -> relaxed energy`` through the per-structure ``e_ads`` label.

    A trajectory whose last frame has no ``e_ads`` is left out, as ``drop_unlabelled`` does
    for the per-frame tasks (the generator writes none for an unconverged or flagged
    relaxation); :class:`DataError` if no trajectory is left."""
    out = []
    for first, _energy, last in pair_is2re(structures, None):
        labels = get_labels(last)
        if "e_ads" not in labels:
            continue
        atoms = first.copy()  # Atoms.copy() drops the calculator (no initial-frame labels)
        atoms.info["e_ads_initial"] = atoms.info.get("e_ads")
        atoms.info["e_ads"] = float(labels["e_ads"])
        out.append(atoms)
    if not out:
        raise DataError("IS2RE: no trajectory has an adsorption energy (e_ads) on its last "
                        "(relaxed) frame", source=structures[0].info.get("source")
                        if structures else None)
    return out


@dataclass
class Setting:
    """``data``: embedded sets (joined); ``targets``: name -> info filter of the target
    task(s); every other task is a source task. ``task``: what the query is scored on,
    ``s2e`` (adsorption energy, eV), ``s2f`` (forces on the free atoms, eV/Å; the
    pretraining then fits energies and forces, and MAML is first order) or ``is2re`` (the
    relaxed adsorption energy from the initial structure, eV: :meth:`structures` pairs each
    trajectory's first frame with its last frame's energy, see :func:`paired_is2re`, so
    pretraining, meta-training and every method work on those pairs as on ``s2e``)."""

    name: str
    data: tuple[str, ...]
    group_by: tuple[str, ...]
    targets: dict[str, dict[str, list[str]]]
    loader: Callable[[], list[Atoms]] | None = field(default=None, repr=False)
    task: str = "s2e"

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ConfigError(f"few-shot setting {self.name!r}: task must be one of "
                              f"{', '.join(TASKS)}, got {self.task!r}")

    @property
    def train_task(self) -> str:
        """The labels of pretraining and MAML: ``s2ef`` for an ``s2f`` setting, ``s2e`` for
        ``s2e`` and (on the paired structures) ``is2re``."""
        return "s2ef" if self.task == "s2f" else "s2e"

    def structures(self) -> list[Atoms]:
        raw = (self.loader() if self.loader is not None
               else [a for name in self.data for a in load(name)])
        return paired_is2re(raw) if self.task == "is2re" else raw


SETTINGS = {
    "wwl-alloys": Setting(
        "wwl-alloys", ("wwl-simple", "wwl-complex"), ("surface", "facet"),
        {"wwl CuCo(111) C2 oxygenates": {"surface": ["CuCo"]},
         "wwl PdRh(111) C2 oxygenates": {"surface": ["PdRh"]}}),
    "xu-kitchin": Setting(
        "xu-kitchin", ("xu-kitchin",), ("metal",),
        {"xu-kitchin Cu(111)": {"metal": ["Cu"]}, "xu-kitchin Pt(111)": {"metal": ["Pt"]}}),
    "gamenet-fg": Setting(
        "gamenet-fg", ("gamenet-fg",), ("metal",),
        {"gamenet-fg Cu(111)": {"metal": ["Cu"]}, "gamenet-fg Ru(0001)": {"metal": ["Ru"]}}),
    # generated (SevenNet-0): a task is one slab system (both its adsorbates), every frame
    # of its relaxations labelled with e_ads; the targets, chosen before any run: the system
    # holding the paper's CH2CO and a random alloy
    "bench-3d-ml": Setting(
        "bench-3d-ml", ("bench-3d-ml",), ("system_id",),
        {"bench-3d-ml W bcc(100) (NH2, CH2CO)": {"system_id": ["bench-3d-ml-00003"]},
         "bench-3d-ml Cu-Ni random fcc(111)": {"system_id": ["bench-3d-ml-00006"]}}),
    # the paper's 3D few-shot setting (S2F): CHOHCH2OH, an adsorbate no source system has,
    # on two generated slabs (``--recipe fewshot-3d-ml``, SevenNet-0); source: every
    # bench-3d-ml system; scored on the forces of the free atoms of every frame
    "fewshot-3d-ml": Setting(
        "fewshot-3d-ml", ("bench-3d-ml", "fewshot-3d-ml"), ("system_id",),
        {"CHOHCH2OH on Cu fcc(100)": {"system_id": ["fewshot-3d-ml-00000"]},
         "CHOHCH2OH on AuNi L1_0 fcc(211)": {"system_id": ["fewshot-3d-ml-00001"]}},
        task="s2f"),
    # the paper's 0D few-shot setting (S2F): CH2CO on two trimetallic nanoclusters
    # (``--recipe fewshot-0d-ml``, SevenNet-0); source: every bench-0d-ml mono- and
    # bimetallic cluster (CH2CO among its adsorbates; no trimetallic cluster)
    "fewshot-0d-ml": Setting(
        "fewshot-0d-ml", ("bench-0d-ml", "fewshot-0d-ml"), ("system_id",),
        {"CH2CO on NiPtAu dec19": {"system_id": ["fewshot-0d-ml-00000"]},
         "CH2CO on NiCuPt oct38": {"system_id": ["fewshot-0d-ml-00001"]}},
        task="s2f"),
    # the paper's 2D few-shot setting (IS2RE): OH, which no source system has, relaxed on
    # four 2D sheets (``--recipe fewshot-2d-ml``); one sample per relaxation (initial
    # structure -> relaxed e_ads). A task is one adsorbate over every sheet: the relaxations
    # of one adsorbate on one sheet end in the same minimum (OH on MoS2 Co-doped: 1.73-1.78
    # eV over 10 random starts), so a per-sheet task would be its own mean; source: every
    # bench-2d-ml adsorbate (H, O, N, CO, NO, CH3, NH2, CHO, OCH3)
    "fewshot-2d-ml": Setting(
        "fewshot-2d-ml", ("bench-2d-ml", "fewshot-2d-ml"), ("adsorbate",),
        {"OH on 2D sheets": {"adsorbate": ["OH"]}}, task="is2re"),
}
