"""``metalegnet predict CKPT INPUT -o OUT.extxyz``: predictions as extended XYZ.

Each output frame is the input structure with

* ``energy`` / ``free_energy`` (eV) on the comment line, ``forces`` (eV/Å) and ``energies``
  (per-atom energies, eV, summing to the energy) as per-atom columns -- ASE reads these back
  into a ``SinglePointCalculator``;
* per-atom arrays ``contributions`` (c_i = gamma_i e_i, eq. 19, model units) and
  ``importance`` (w_i = |c_i| / max_j |c_j|, eq. 31, in [0, 1]), which ``ase gui`` can colour
  atoms by;
* ``info["predicted"]`` naming which energy the model was trained on (total, adsorption or
  relaxed energy) and ``info["model"]`` its name.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from ase.calculators.singlepoint import SinglePointCalculator

from metalegnet.calculator import check_cell
from metalegnet.checkpoint import load_checkpoint
from metalegnet.data.graph import atoms_to_graph, collate
from metalegnet.data.io import read_structures, write_extxyz_atomic
from metalegnet.explain.attribution import importance


def predict_structures(model: torch.nn.Module, structures, batch_size: int = 8,
                       device: str | torch.device = "cpu") -> list[dict[str, np.ndarray]]:
    """Energy (eV), forces (eV/Å), per-atom energies, contributions and importance of each
    structure, batched."""
    model.eval()
    cutoff = float(model.config.cutoff)
    dtype = next(model.parameters()).dtype
    conservative = getattr(model.config, "force_head", "direct") == "conservative"
    results = []
    for k in range(0, len(structures), batch_size):
        chunk = structures[k:k + batch_size]
        for atoms in chunk:
            check_cell(atoms, source=atoms.info.get("source"))
        graph = collate([atoms_to_graph(a, cutoff, dtype=dtype) for a in chunk]).to(device)
        with torch.set_grad_enabled(conservative):
            out = model(graph, compute_forces=True)
        w = importance(out.contributions.detach(), graph.batch)
        bounds = np.cumsum([0] + [len(a) for a in chunk])
        energy, forces = as_np(out.energy), as_np(out.forces)
        per_atom, c, w = as_np(out.atom_energies), as_np(out.contributions), as_np(w)
        for g, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:])):
            results.append({"energy": float(energy[g]), "forces": forces[lo:hi],
                            "energies": per_atom[lo:hi], "contributions": c[lo:hi],
                            "importance": w[lo:hi]})
    return results


def predict_file(checkpoint: str | os.PathLike, source: str | os.PathLike,
                 output: str | os.PathLike, batch_size: int = 8, device: str = "cpu") -> Path:
    """Predict every structure of ``source`` and write ``output`` (extxyz, atomically)."""
    model, payload = load_checkpoint(checkpoint, map_location=device)
    meta = payload.get("metadata", {})
    structures = read_structures(source)
    preds = predict_structures(model, structures, batch_size, device)
    frames = []
    for atoms, p in zip(structures, preds):
        new = atoms.copy()
        for key in ("forces", "energies"):  # DFT labels of the input would clash
            new.arrays.pop(key, None)
        for key in ("energy", "free_energy"):
            new.info.pop(key, None)
        new.calc = SinglePointCalculator(new, energy=p["energy"], free_energy=p["energy"],
                                         forces=p["forces"], energies=p["energies"])
        new.arrays["contributions"] = p["contributions"]
        new.arrays["importance"] = p["importance"]
        new.info["predicted"] = meta.get("energy", "energy")
        new.info["model"] = payload.get("model_name", "legnet")
        frames.append(new)
    return write_extxyz_atomic(output, frames)


def as_np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().double().numpy()
