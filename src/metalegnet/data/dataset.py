"""``torch`` dataset and loader that build :class:`AtomicGraph` s lazily.

The neighbour list (cutoff in Å) is built in ``__getitem__``, so only structures in use are
graphed, and LMDB-backed sets larger than memory stream from disk (in DataLoader workers too).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset

from metalegnet.data.graph import AtomicGraph, atoms_to_graph, collate
from metalegnet.data.labels import labels_for_structure


class GraphDataset(Dataset):
    """Graphs of structures with their labels.

    Args:
        items: a sequence of ``(Atoms, labels)`` pairs (e.g. from
            :func:`metalegnet.data.labels.labels_for_task`), or a sequence of ``Atoms`` /
            an :class:`~metalegnet.data.store.LmdbStructures` / a path to an LMDB store, whose
            labels are then read per structure for ``task``.
        cutoff: neighbour-list cutoff (Å).
        task, energy_target, energy_key: which labels to attach when ``items`` holds bare
            structures (see :func:`metalegnet.data.labels.labels_for_structure`); ``task=None``
            attaches no labels (inference).
        indices: optional subset (e.g. ``split.train_idx``) of positions in ``items``.
        dtype: floating dtype of positions, cell and labels.
    """

    def __init__(self, items: Sequence | str | os.PathLike, cutoff: float,
                 task: str | None = "s2ef", energy_target: str = "total",
                 energy_key: str | None = None, indices: Sequence[int] | None = None,
                 dtype: torch.dtype = torch.float32) -> None:
        if isinstance(items, str | os.PathLike):
            from metalegnet.data.store import LmdbStructures

            items = LmdbStructures(Path(items))
        self.items = items
        self.cutoff = float(cutoff)
        self.task = task
        self.energy_target = energy_target
        self.energy_key = energy_key
        self.indices = list(indices) if indices is not None else None
        self.dtype = dtype

    def __len__(self) -> int:
        return len(self.indices) if self.indices is not None else len(self.items)

    def __getitem__(self, k: int) -> AtomicGraph:
        item = self.items[self.indices[k] if self.indices is not None else k]
        if isinstance(item, tuple):
            atoms, labels = item
        elif self.task is None:
            atoms, labels = item, None
        else:
            atoms = item
            labels = labels_for_structure(atoms, self.task, self.energy_target, self.energy_key)
        return atoms_to_graph(atoms, self.cutoff, labels, dtype=self.dtype)


def make_loader(dataset: Dataset, batch_size: int, shuffle: bool = False, seed: int = 0,
                num_workers: int = 0, drop_last: bool = False, **kwargs) -> DataLoader:
    """A ``DataLoader`` that batches graphs with :func:`collate`; shuffling is reproducible
    from ``seed``. Extra keyword arguments go to ``DataLoader``."""
    generator = torch.Generator()
    generator.manual_seed(int(seed))
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, collate_fn=collate,
                      generator=generator, num_workers=num_workers, drop_last=drop_last,
                      persistent_workers=num_workers > 0, **kwargs)
