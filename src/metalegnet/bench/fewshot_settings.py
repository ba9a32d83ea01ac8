"""Few-shot settings: source data, the task rule, and the held-out target tasks.

*Choice*: a task here is one catalyst surface with every adsorbate computed on it
(``surface,facet`` in WWL-GPR, ``metal`` in Xu & Kitchin and GAME-Net FG, ``system_id`` in
the generated bench-3d-ml): the situation
of a user with a new catalyst and a handful of DFT calculations, and the only grouping in
which every target has > 20 structures (a (surface, adsorbate) group of the complex WWL set
has 7-37). The leak check (:func:`metalegnet.meta.tasks.check_no_leak`) refuses any target
(surface, adsorbate) or (metal, adsorbate) pair that occurs in the source.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ase import Atoms

from metalegnet.data.registry import load


@dataclass
class Setting:
    """``data``: embedded sets (joined); ``targets``: name -> info filter of the target
    task(s); every other task is a source task. ``task``: what the query is scored on,
    ``s2e`` (adsorption energy, eV) or ``s2f`` (forces on the free atoms, eV/Å; the
    pretraining then fits energies and forces, and MAML is first order)."""

    name: str
    data: tuple[str, ...]
    group_by: tuple[str, ...]
    targets: dict[str, dict[str, list[str]]]
    loader: Callable[[], list[Atoms]] | None = field(default=None, repr=False)
    task: str = "s2e"

    @property
    def train_task(self) -> str:
        """The labels of pretraining and MAML: ``s2ef`` for an ``s2f`` setting."""
        return "s2ef" if self.task == "s2f" else "s2e"

    def structures(self) -> list[Atoms]:
        if self.loader is not None:
            return self.loader()
        return [a for name in self.data for a in load(name)]


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
}
