"""The one inference path: structures -> checked graphs for a model -> batched predictions.

The calculator, ``metalegnet predict``, ``metalegnet evaluate``, the benchmarks and the model
test suite all go through here, so "is this input usable", "which cutoff" and "does this
forward pass need autograd" are answered once:

* :func:`check_structure` refuses bad input with one line naming the file, the structure and
  the problem (:class:`~metalegnet.errors.DataError`): no atoms, NaN/inf positions, unknown
  elements (Z = 0, ``X``), a zero or degenerate periodic cell, overlapping atoms. Elements the
  model never saw in training (their embeddings were never trained) give, by default, one
  warning line naming them and the structures (*choice*: a warning, not an error, because
  OC20-style splits by material routinely put new elements in the test split);
  ``unseen="error"`` (``--unseen-elements error``) refuses them instead.
* :func:`build_graphs` builds graphs with the model's own cutoff (``model.cutoff``, Å).
* :func:`forward` runs one batch with autograd exactly when the model needs it
  (``model.needs_position_grad``: conservative forces F = -dE/dx).
* :func:`predict` does both for a list of structures, in batches, and returns one
  :class:`Prediction` per structure (energies eV, forces eV/Å).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from ase import Atoms
from ase.data import chemical_symbols

from metalegnet.data.graph import AtomicGraph, atoms_to_graph, collate
from metalegnet.data.validate import validate_structure
from metalegnet.errors import DataError, UnseenElementWarning
from metalegnet.explain.attribution import importance


@dataclass
class Prediction:
    """One structure's prediction.

    Attributes:
        energy: E_G (eV). forces: ``[N, 3]`` (eV/Å) or None.
        energies: per-atom energies ``[N]`` (eV), summing to ``energy``.
        contributions: c_i = gamma_i e_i (eq. 19, model units).
        importance: w_i = |c_i| / max_j |c_j| (eq. 31), in [0, 1].
        gate: gamma_i (eq. 18) where the model has one, else None.
    """

    energy: float
    forces: np.ndarray | None
    energies: np.ndarray
    contributions: np.ndarray
    importance: np.ndarray
    gate: np.ndarray | None = None


def model_dtype(model: torch.nn.Module) -> torch.dtype:
    return next(model.parameters()).dtype


def model_device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


UNSEEN_POLICIES = ("warn", "error", "ignore")


def unseen_elements(model: torch.nn.Module, atoms: Atoms) -> list[int]:
    """Atomic numbers of ``atoms`` that the model's training split did not contain."""
    known = getattr(getattr(model, "normalization", None), "known_elements", None)
    if known is None:
        return []
    return sorted({int(z) for z in np.asarray(atoms.numbers)
                   if z >= len(known) or not bool(known[int(z)])})


def _unseen_message(model: torch.nn.Module, zs: Sequence[int], count: int = 1) -> str:
    known = model.normalization.known_elements
    seen = ", ".join(chemical_symbols[z] for z in torch.nonzero(known).flatten().tolist())
    what = "this structure holds" if count == 1 else f"{count} structures hold"
    return (f"{what} element(s) {', '.join(chemical_symbols[z] for z in zs)} never seen in "
            f"training (the model knows {seen}): its predictions there are extrapolations")


def check_structure(model: torch.nn.Module, atoms: Atoms, source: str | None = None,
                    index: int | None = None, unseen: str = "warn") -> list[int]:
    """Raise :class:`DataError` (one line) if ``atoms`` cannot go through ``model``.

    Elements absent from the training split are handled by ``unseen``: ``"warn"`` (the
    default: one :class:`UnseenElementWarning` line), ``"error"`` (a DataError) or
    ``"ignore"``. Returns those atomic numbers."""
    if unseen not in UNSEEN_POLICIES:
        raise ValueError(f"unseen={unseen!r}; choose one of {UNSEEN_POLICIES}")
    bare = Atoms(numbers=atoms.numbers, positions=atoms.positions, cell=atoms.cell,
                 pbc=atoms.pbc, info={k: atoms.info[k] for k in ("sid", "source", "index")
                                      if k in atoms.info})  # labels do not matter here
    validate_structure(bare, source=source, index=index)
    zs = unseen_elements(model, atoms)
    if zs and unseen != "ignore":
        err = DataError(_unseen_message(model, zs),
                        source=source if source is not None else atoms.info.get("source"),
                        index=index if index is not None else atoms.info.get("index"),
                        sid=None if atoms.info.get("sid") is None else str(atoms.info["sid"]))
        if unseen == "error":
            raise err
        warnings.warn(str(err), UnseenElementWarning, stacklevel=2)
    return zs


def check_structures(model: torch.nn.Module, structures: Sequence[Atoms],
                     source: str | None = None, unseen: str = "warn", start: int = 0) -> None:
    """:func:`check_structure` on each structure; errors name ``source`` and the index
    ``start + k`` of the structure in it. With ``unseen="warn"`` all structures holding
    never-trained elements give one warning line together."""
    flagged = []
    for k, atoms in enumerate(structures):
        zs = check_structure(model, atoms, source, None if source is None else start + k,
                             "error" if unseen == "error" else "ignore")
        if zs:
            flagged.append(zs)
    if flagged and unseen == "warn":
        zs = sorted({z for f in flagged for z in f})
        warnings.warn(_unseen_message(model, zs, len(flagged)), UnseenElementWarning,
                      stacklevel=3)


def build_graphs(model: torch.nn.Module, structures: Sequence[Atoms],
                 source: str | None = None, unseen: str = "warn") -> list[AtomicGraph]:
    """Checked (:func:`check_structures`) graphs of ``structures`` with the model's cutoff
    and dtype, on the CPU."""
    check_structures(model, structures, source, unseen)
    dtype = model_dtype(model)
    return [atoms_to_graph(atoms, model.cutoff, dtype=dtype) for atoms in structures]


def forward(model: torch.nn.Module, graph: AtomicGraph, compute_forces: bool = True):
    """``model(graph)`` with autograd on exactly when the model needs it for forces."""
    with torch.set_grad_enabled(model.needs_position_grad(compute_forces)):
        return model(graph, compute_forces=compute_forces)


def predict(model: torch.nn.Module, structures: Sequence[Atoms], batch_size: int = 16,
            compute_forces: bool = True, source: str | None = None, unseen: str = "warn"
            ) -> list[Prediction]:
    """Predictions for every structure, in batches of ``batch_size`` (model in eval mode).
    Every structure is checked before the first forward pass."""
    was_training = model.training
    model.eval()
    device, dtype = model_device(model), model_dtype(model)
    check_structures(model, structures, source, unseen)
    out_list: list[Prediction] = []
    try:
        for k in range(0, len(structures), batch_size):  # graphs one batch at a time
            graph = collate([atoms_to_graph(a, model.cutoff, dtype=dtype)
                             for a in structures[k:k + batch_size]]).to(device)
            out = forward(model, graph, compute_forces)
            out_list.extend(split_output(out, graph))
    finally:
        model.train(was_training)
    return out_list


def split_output(out, graph: AtomicGraph) -> list[Prediction]:
    """One :class:`Prediction` per graph of a batched model output."""
    c = out.contributions.detach()
    w = as_np(importance(c, graph.batch))
    energy, per_atom, c = as_np(out.energy), as_np(out.atom_energies), as_np(c)
    forces = as_np(out.forces) if out.forces is not None else None
    gate = as_np(out.gate) if getattr(out, "gate", None) is not None else None
    bounds = np.cumsum([0] + graph.natoms.tolist())
    preds = []
    for g, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:])):
        preds.append(Prediction(
            energy=float(energy[g]), forces=None if forces is None else forces[lo:hi],
            energies=per_atom[lo:hi], contributions=c[lo:hi], importance=w[lo:hi],
            gate=None if gate is None else gate[lo:hi]))
    return preds


def as_np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().double().numpy()
