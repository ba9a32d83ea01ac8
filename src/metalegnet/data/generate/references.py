"""Gas-phase references for adsorption energies, computed with the same oracle.

The OC20 scheme: each adsorbate atom is referenced to a gas molecule,

    E_H = 1/2 E(H2),   E_O = E(H2O) - E(H2),   E_C = E(CO) - E_O,   E_N = 1/2 E(N2),

so that ``E_ads = E(slab+ads) - E(slab) - sum_i n_i E_i`` (all in eV). Every molecule is relaxed
with the oracle in a cubic periodic box (BFGS, same settings as the adslabs).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass

from ase import Atoms
from ase.build import molecule

from metalegnet.data.generate.oracles import Oracle
from metalegnet.errors import DataError
from metalegnet.surface.relax import RelaxConfig, relax

#: The gas molecules of the reference scheme.
REFERENCE_MOLECULES: tuple[str, ...] = ("H2", "H2O", "CO", "N2")
#: Box edge for the isolated molecules (Å); larger than twice any oracle cutoff here (6 Å).
BOX = 14.0


@dataclass(frozen=True)
class GasReferences:
    """Relaxed gas-molecule total energies and the per-element references built from them.

    Attributes:
        oracle: the oracle name that computed them.
        molecules: total energy of each relaxed molecule (eV).
        elements: reference energy per element, H, O, C, N (eV per atom).
    """

    oracle: str
    molecules: dict[str, float]
    elements: dict[str, float]

    def energy(self, symbols: Iterable[str]) -> float:
        """Sum of the element references of an adsorbate's atoms (eV)."""
        total = 0.0
        for symbol, count in Counter(symbols).items():
            if symbol not in self.elements:
                raise DataError(f"no gas reference for element {symbol} "
                                f"(references exist for {', '.join(self.elements)})")
            total += count * self.elements[symbol]
        return total

    def to_dict(self) -> dict:
        return {"scheme": "OC20: H=H2/2, O=H2O-H2, C=CO-O, N=N2/2", **asdict(self)}


def isolated_molecule(name: str, box: float = BOX) -> Atoms:
    """``ase.build.molecule(name)`` centred in a periodic cubic box of edge ``box`` (Å)."""
    mol = molecule(name)
    mol.cell = [box, box, box]
    mol.pbc = True
    mol.center()
    return mol


def element_references(molecules: dict[str, float]) -> dict[str, float]:
    """Per-element references (eV/atom) from molecule total energies (eV), OC20 scheme."""
    e_h = 0.5 * molecules["H2"]
    e_o = molecules["H2O"] - molecules["H2"]
    e_c = molecules["CO"] - e_o
    e_n = 0.5 * molecules["N2"]
    return {"H": e_h, "O": e_o, "C": e_c, "N": e_n}


def compute_references(oracle: Oracle, config: RelaxConfig | None = None) -> GasReferences:
    """Relax H2, H2O, CO and N2 with ``oracle`` and build the element references."""
    energies: dict[str, float] = {}
    for name in REFERENCE_MOLECULES:
        result = relax(isolated_molecule(name), oracle.calculator, config)
        energies[name] = result.final_energy
    return GasReferences(oracle.name, energies, element_references(energies))
