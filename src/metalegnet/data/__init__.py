"""Data: read, validate, label, split and batch atomic structures.

Typical use::

    from metalegnet.data import load, labels_for_task, split_by_group, GraphDataset

    frames = load("oc20-mini")                       # 5,296 OC20 frames (ASE Atoms)
    split = split_by_group(frames, key="sid", seed=0)
    train = labels_for_task(split.select(frames, "train"), "s2ef")
    dataset = GraphDataset(train, cutoff=6.0)
"""

from metalegnet.data.dataset import GraphDataset, make_loader
from metalegnet.data.graph import AtomicGraph, atoms_to_graph, collate
from metalegnet.data.io import iter_structures, read_structures, write_extxyz_atomic
from metalegnet.data.labels import (
    Sample,
    get_labels,
    labels_for_structure,
    labels_for_task,
    pair_is2re,
    target_keys,
)
from metalegnet.data.references import (
    fit_references,
    load_references,
    reference_energy,
    save_references,
    subtract_references,
)
from metalegnet.data.registry import available, load
from metalegnet.data.splits import (
    Split,
    apply_split,
    load_or_make_split,
    load_split,
    save_split,
    split_by_group,
)
from metalegnet.data.store import LmdbStructures, convert
from metalegnet.data.summary import format_summary, summarize
from metalegnet.data.validate import validate_labels, validate_structure, validate_structures

__all__ = [
    "AtomicGraph", "GraphDataset", "LmdbStructures", "Sample", "Split", "apply_split",
    "atoms_to_graph", "available", "collate", "convert", "fit_references", "format_summary",
    "get_labels", "iter_structures", "labels_for_structure", "labels_for_task", "load",
    "load_or_make_split", "load_references", "load_split", "make_loader", "pair_is2re",
    "read_structures", "reference_energy", "save_references", "save_split", "split_by_group",
    "subtract_references", "summarize", "target_keys", "validate_labels",
    "validate_structure", "validate_structures", "write_extxyz_atomic",
]
