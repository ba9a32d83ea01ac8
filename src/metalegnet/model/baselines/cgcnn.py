"""CGCNN (Xie & Grossman 2018) built from PyTorch Geometric's ``CGConv`` layers.

The standard arrangement (the original ``CrystalGraphConvNet``): atom embedding ->
``num_conv`` x (``CGConv``, softplus) with the Gaussian expansion of the periodic distance as
edge features (PyG's ``GaussianSmearing`` on [0, cutoff]) -> pooling -> softplus ->
(``Linear``, softplus) x ``num_fc`` -> ``Linear`` -> energy. (PyG's ``CGConv`` returns
``x + sum_j sigma(z W_f) * softplus(z W_s)``; the original layer applies a softplus to that
sum, which the adapter adds.)

* ``pooling="mean"`` is the original CGCNN (and the OC20 baseline): pool the atom features, then
  the MLP; the energy is not a sum over atoms, so no per-atom contributions are reported.
* ``pooling="sum"``: the MLP acts on every atom and the outputs are summed (extensive), which
  gives per-atom contributions.

Deviations, both deliberate: atoms are embedded by a learnt table over Z (the original feeds a
92-dimensional elemental descriptor through a linear layer; an embedding is that layer on a
one-hot Z); CGConv's batch norm is off by default, because in training mode it couples the
structures of a batch (the energy of one depends on the others, and so do its -dE/dx forces).
Like the original, the edge features have no smooth cutoff, so the energy jumps where an atom
crosses the cutoff sphere.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from metalegnet.errors import ConfigError
from metalegnet.model.baselines.base import (
    NUM_ELEMENTS,
    BaselineModel,
    PeriodicEdges,
    check_common,
    check_positive,
    import_library,
    sum_per_graph,
)


@dataclass
class CGCNNConfig:
    """CGCNN hyperparameters (original paper's sizes; lengths in Å).

    Attributes:
        cutoff: neighbour cutoff (Å).
        atom_features: atom feature size after the embedding.
        num_conv: CGConv layers.
        num_gaussians: Gaussians of the distance expansion on [0, cutoff].
        hidden_features: size of the fully connected layers after pooling.
        num_fc: fully connected layers after pooling (the original ``n_h``).
        pooling: ``"mean"`` (original) or ``"sum"`` (per-atom energies, extensive).
        batch_norm: CGConv's batch norm (original: on; default here: off, see module doc).
        force_head: ``"conservative"`` only (F = -dE/dx).
    """

    cutoff: float = 6.0
    atom_features: int = 64
    num_conv: int = 3
    num_gaussians: int = 50
    hidden_features: int = 128
    num_fc: int = 1
    pooling: str = "mean"
    batch_norm: bool = False
    force_head: str = "conservative"

    def __post_init__(self) -> None:
        check_common("CGCNNConfig", self.cutoff, self.force_head)
        check_positive("CGCNNConfig", atom_features=self.atom_features,
                       num_conv=self.num_conv, num_gaussians=self.num_gaussians,
                       hidden_features=self.hidden_features, num_fc=self.num_fc)
        if self.pooling not in ("mean", "sum"):
            raise ConfigError(f"CGCNNConfig.pooling={self.pooling!r}; choose 'mean' or 'sum'")


class CGCNNBaseline(BaselineModel):
    """CGCNN from ``torch_geometric.nn.CGConv`` layers on our periodic edges."""

    name = "cgcnn"

    def __init__(self, config: CGCNNConfig | None = None) -> None:
        super().__init__()
        self.config = c = config or CGCNNConfig()
        pyg_nn = import_library("torch_geometric.nn", self.name)
        schnet = import_library("torch_geometric.nn.models.schnet", self.name)
        self.embedding = nn.Embedding(NUM_ELEMENTS, c.atom_features)
        self.distance_expansion = schnet.GaussianSmearing(0.0, c.cutoff, c.num_gaussians)
        self.convs = nn.ModuleList(
            pyg_nn.CGConv(c.atom_features, dim=c.num_gaussians, aggr="add",
                          batch_norm=c.batch_norm) for _ in range(c.num_conv))
        self.act = nn.Softplus()
        layers: list[nn.Module] = [nn.Softplus(), nn.Linear(c.atom_features, c.hidden_features),
                                   nn.Softplus()]
        for _ in range(c.num_fc - 1):
            layers += [nn.Linear(c.hidden_features, c.hidden_features), nn.Softplus()]
        layers.append(nn.Linear(c.hidden_features, 1))
        self.fc = nn.Sequential(*layers)

    def energy_terms(self, graph, pos):
        edges = PeriodicEdges(graph, pos, self.config.cutoff)
        edge_index, edge_attr = edges.pyg, self.distance_expansion(edges.dist)
        h = self.embedding(graph.z)
        for conv in self.convs:
            h = self.act(conv(h, edge_index, edge_attr))
        batch, g = graph.batch, graph.num_graphs
        if self.config.pooling == "sum":
            e = self.fc(h).squeeze(-1)
            return sum_per_graph(e, batch, g), e, h
        pooled = h.new_zeros(g, h.shape[1]).index_add(0, batch, h)
        pooled = pooled / graph.natoms.clamp(min=1).to(h.dtype).unsqueeze(-1)
        return self.fc(pooled).squeeze(-1), None, h
