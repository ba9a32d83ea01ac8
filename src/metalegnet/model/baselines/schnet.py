"""SchNet (Schütt et al. 2017) from PyTorch Geometric, fed our periodic edges.

PyG's ``SchNet.forward`` is ``h = embedding(z)``; ``(edge_index, d) = interaction_graph(pos,
batch)``; ``h = h + interaction(h, edge_index, d, distance_expansion(d))`` per block;
``e_i = lin2(act(lin1(h)))``; ``E = sum_i e_i``. The adapter runs exactly these library modules,
with ``interaction_graph`` replaced by our neighbour list (so periodic images count and
``d = |x_j - x_i + S @ cell|`` carries gradients to positions), and keeps ``e_i`` as the per-atom
contributions and ``h`` as the latent features.
"""

from __future__ import annotations

from dataclasses import dataclass

from metalegnet.model.baselines.base import (
    BaselineModel,
    PeriodicEdges,
    check_common,
    check_positive,
    import_library,
    sum_per_graph,
)


@dataclass
class SchNetConfig:
    """SchNet hyperparameters (PyG defaults, cutoff in Å as our graphs).

    Attributes:
        cutoff: interaction cutoff (Å); CFConv's cosine cutoff goes to zero there.
        hidden_channels: atom feature size.
        num_filters: filter size of the continuous-filter convolutions.
        num_interactions: interaction blocks.
        num_gaussians: Gaussians of the distance expansion on [0, cutoff].
        force_head: ``"conservative"`` only (F = -dE/dx): SchNet has no force head.
    """

    cutoff: float = 6.0
    hidden_channels: int = 128
    num_filters: int = 128
    num_interactions: int = 6
    num_gaussians: int = 50
    force_head: str = "conservative"

    def __post_init__(self) -> None:
        check_common("SchNetConfig", self.cutoff, self.force_head)
        check_positive("SchNetConfig", hidden_channels=self.hidden_channels,
                       num_filters=self.num_filters, num_interactions=self.num_interactions,
                       num_gaussians=self.num_gaussians)


class SchNetBaseline(BaselineModel):
    """``torch_geometric.nn.models.SchNet`` on our periodic edges (see the module docstring)."""

    name = "schnet"
    max_z = 99  # PyG's SchNet embedding has 100 rows

    def __init__(self, config: SchNetConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or SchNetConfig()
        models = import_library("torch_geometric.nn.models", self.name)
        self.net = models.SchNet(hidden_channels=config.hidden_channels,
                                 num_filters=config.num_filters,
                                 num_interactions=config.num_interactions,
                                 num_gaussians=config.num_gaussians, cutoff=config.cutoff,
                                 interaction_graph=_NoRadiusGraph(), readout="add")

    def energy_terms(self, graph, pos):
        net = self.net
        edges = PeriodicEdges(graph, pos, self.config.cutoff)
        edge_index, d = edges.pyg, edges.dist
        h = net.embedding(graph.z)
        edge_attr = net.distance_expansion(d)
        for interaction in net.interactions:
            h = h + interaction(h, edge_index, d, edge_attr)
        e = net.lin2(net.act(net.lin1(h))).squeeze(-1)
        return sum_per_graph(e, graph.batch, graph.num_graphs), e, h


class _NoRadiusGraph:
    """Stands in for PyG's radius graph (torch-cluster): the adapter passes edges itself."""

    def __call__(self, pos, batch):
        raise RuntimeError("SchNetBaseline passes its own periodic edges; call the adapter, "
                           "not .net directly")
