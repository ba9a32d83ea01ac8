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

from ase.calculators.singlepoint import SinglePointCalculator

from metalegnet import inference
from metalegnet.checkpoint import load_checkpoint
from metalegnet.data.io import read_structures, write_extxyz_atomic


def predict_file(checkpoint: str | os.PathLike, source: str | os.PathLike,
                 output: str | os.PathLike, batch_size: int = 8, device: str = "cpu",
                 unseen_elements: str = "warn") -> Path:
    """Predict every structure of ``source`` and write ``output`` (extxyz, atomically)."""
    model, payload = load_checkpoint(checkpoint, map_location=device)
    meta = payload.get("metadata", {})
    structures = read_structures(source)
    preds = inference.predict(model, structures, batch_size,  # errors name info["source"]
                              unseen=unseen_elements)
    frames = []
    for atoms, p in zip(structures, preds):
        new = atoms.copy()
        for key in ("forces", "energies"):  # DFT labels of the input would clash
            new.arrays.pop(key, None)
        for key in ("energy", "free_energy"):
            new.info.pop(key, None)
        new.calc = SinglePointCalculator(new, energy=p.energy, free_energy=p.energy,
                                         forces=p.forces, energies=p.energies)
        new.arrays["contributions"] = p.contributions
        new.arrays["importance"] = p.importance
        new.info["predicted"] = meta.get("energy", "energy")
        new.info["model"] = payload.get("model_name", "legnet")
        frames.append(new)
    return write_extxyz_atomic(output, frames)

