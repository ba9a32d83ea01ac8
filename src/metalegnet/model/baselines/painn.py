"""PaiNN (Schütt, Unke & Gastegger 2021) from schnetpack, fed our periodic edges.

schnetpack's ``representation.PaiNN`` reads a dict of ``Z``, ``R_ij`` (``x_j - x_i`` plus the
image shift, exactly our edge vectors), ``idx_i`` (centre) and ``idx_j`` (neighbour), and returns
scalar and vector atom features; ``atomistic.Atomwise`` maps the scalars to per-atom energies.
The adapter builds that dict from our graph (so periodic images count and gradients reach the
positions) and sums the per-atom energies per graph with ``index_add``.

Installing schnetpack here needs care (why it is not in the ``baselines`` extra): its last
release for Python < 3.12 (2.1.1) pins ``sympy<=1.12`` while torch 2.13 needs ``sympy>=1.13.3``,
so ``pip install schnetpack`` replaces torch with 2.4. Install it without its dependency
resolution instead (it only uses sympy for Clebsch-Gordan coefficients, which work with any
sympy), then its import-time dependencies: see :data:`PAINN_INSTALL`. schnetpack 2.1.1 also
imports the typing alias ``T_co`` from ``torch.utils.data.dataloader``, which current torch
names ``_T_co``; :func:`import_schnetpack` adds the old name (an alias, nothing else) first.
"""

from __future__ import annotations

from dataclasses import dataclass

from metalegnet.errors import ConfigError
from metalegnet.model.baselines.base import (
    BaselineModel,
    PeriodicEdges,
    check_common,
    check_positive,
    import_library,
    sum_per_graph,
)

PAINN_INSTALL = ("pip install --no-deps 'schnetpack==2.1.1' && pip install pytorch-lightning "
                 "torchmetrics hydra-core rich fasteners dirsync torch-ema h5py matscipy (not "
                 "'pip install schnetpack': its sympy<=1.12 pin makes pip replace torch)")

RADIAL_BASES = ("gaussian", "bessel")


def import_schnetpack():
    """``import schnetpack``, first restoring the ``T_co`` alias that 2.1.1 imports from torch."""
    import torch.utils.data.dataloader as dataloader

    if not hasattr(dataloader, "T_co") and hasattr(dataloader, "_T_co"):
        dataloader.T_co = dataloader._T_co
    return import_library("schnetpack", "painn", how=PAINN_INSTALL)


@dataclass
class PaiNNConfig:
    """PaiNN hyperparameters (schnetpack's defaults; lengths in Å).

    Attributes:
        cutoff: interaction cutoff (Å), with schnetpack's cosine cutoff function.
        n_atom_basis: feature size of the scalar and vector channels.
        n_interactions: interaction + mixing blocks.
        n_rbf: radial basis functions on [0, cutoff].
        radial_basis: ``"gaussian"`` (schnetpack's PaiNN default) or ``"bessel"``.
        shared_interactions: share weights across interaction blocks.
        shared_filters: share the filter network across interaction blocks.
        n_out_layers: layers of the atom-wise output MLP.
        force_head: ``"conservative"`` only (F = -dE/dx), as in schnetpack.
    """

    cutoff: float = 6.0
    n_atom_basis: int = 128
    n_interactions: int = 3
    n_rbf: int = 20
    radial_basis: str = "gaussian"
    shared_interactions: bool = False
    shared_filters: bool = False
    n_out_layers: int = 2
    force_head: str = "conservative"

    def __post_init__(self) -> None:
        check_common("PaiNNConfig", self.cutoff, self.force_head)
        check_positive("PaiNNConfig", n_atom_basis=self.n_atom_basis,
                       n_interactions=self.n_interactions, n_rbf=self.n_rbf,
                       n_out_layers=self.n_out_layers)
        if self.radial_basis not in RADIAL_BASES:
            raise ConfigError(f"PaiNNConfig.radial_basis={self.radial_basis!r}; choose one of "
                              f"{RADIAL_BASES}")


class PaiNNBaseline(BaselineModel):
    """schnetpack's ``PaiNN`` representation + ``Atomwise`` energy head on our edges."""

    name = "painn"
    max_z = 99  # schnetpack's default nuclear embedding has 100 rows

    def __init__(self, config: PaiNNConfig | None = None) -> None:
        super().__init__()
        self.config = c = config or PaiNNConfig()
        spk = import_schnetpack()
        rbf = (spk.nn.GaussianRBF(n_rbf=c.n_rbf, cutoff=c.cutoff) if c.radial_basis == "gaussian"
               else spk.nn.BesselRBF(n_rbf=c.n_rbf, cutoff=c.cutoff))
        self.representation = spk.representation.PaiNN(
            n_atom_basis=c.n_atom_basis, n_interactions=c.n_interactions, radial_basis=rbf,
            cutoff_fn=spk.nn.CosineCutoff(c.cutoff),
            shared_interactions=c.shared_interactions, shared_filters=c.shared_filters)
        self.head = spk.atomistic.Atomwise(n_in=c.n_atom_basis, n_layers=c.n_out_layers,
                                           aggregation_mode=None, output_key="energy",
                                           per_atom_output_key="atom_energy")
        p = spk.properties  # schnetpack's input keys (plain strings)
        self._keys = {"z": p.Z, "pos": p.R, "rij": p.Rij, "i": p.idx_i, "j": p.idx_j,
                      "batch": p.idx_m, "natoms": p.n_atoms}

    def energy_terms(self, graph, pos):
        k = self._keys
        edges = PeriodicEdges(graph, pos, self.config.cutoff)
        inputs = {k["z"]: graph.z, k["pos"]: pos, k["rij"]: edges.vec, k["i"]: edges.centre,
                  k["j"]: edges.neighbour, k["batch"]: graph.batch, k["natoms"]: graph.natoms}
        inputs = self.head(self.representation(inputs))
        e = inputs["atom_energy"].squeeze(-1)
        return (sum_per_graph(e, graph.batch, graph.num_graphs), e,
                inputs["scalar_representation"])
