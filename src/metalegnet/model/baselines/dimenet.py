"""DimeNet++ (Gasteiger et al. 2020) from PyTorch Geometric, on our periodic edges and triplets.

PyG's ``DimeNet.forward`` builds a radius graph (torch-cluster) and its triplets (torch-sparse),
then runs ``rbf``, ``sbf``, ``emb``, the output and interaction blocks. The adapter replaces only
those two graph calls: edges come from our periodic neighbour list and triplets ``k -> j -> i``
from :func:`periodic_triplets` (pure torch). Distances and angles use the periodic edge vectors,
so images count and gradients reach positions. Every learnable step is the library's, in the
library's order; the per-atom outputs ``P_i`` (summed over the output blocks) are the per-atom
contributions.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from metalegnet.errors import ConfigError
from metalegnet.model.baselines.base import (
    BaselineModel,
    PeriodicEdges,
    check_common,
    check_positive,
    import_library,
    sum_per_graph,
)


@dataclass
class DimeNetPPConfig:
    """DimeNet++ hyperparameters (defaults: the OC20 DimeNet++ baseline; lengths in Å).

    Attributes:
        cutoff: interaction cutoff (Å).
        hidden_channels: edge embedding size.
        out_emb_channels: output block embedding size.
        int_emb_size: triplet (interaction) embedding size.
        basis_emb_size: basis embedding size in the interaction blocks.
        num_blocks: interaction blocks.
        num_spherical: spherical harmonics of the angular basis.
        num_radial: radial Bessel functions.
        envelope_exponent: exponent of the smooth cutoff envelope.
        num_before_skip / num_after_skip: residual layers around the skip connection.
        num_output_layers: dense layers per output block.
        output_initializer: ``"zeros"`` (PyG default: the untrained model predicts 0) or
            ``"glorot_orthogonal"``.
        force_head: ``"conservative"`` only (F = -dE/dx).
    """

    cutoff: float = 6.0
    hidden_channels: int = 256
    out_emb_channels: int = 192
    int_emb_size: int = 64
    basis_emb_size: int = 8
    num_blocks: int = 3
    num_spherical: int = 7
    num_radial: int = 6
    envelope_exponent: int = 5
    num_before_skip: int = 1
    num_after_skip: int = 2
    num_output_layers: int = 3
    output_initializer: str = "zeros"
    force_head: str = "conservative"

    def __post_init__(self) -> None:
        check_common("DimeNetPPConfig", self.cutoff, self.force_head)
        check_positive("DimeNetPPConfig", hidden_channels=self.hidden_channels,
                       out_emb_channels=self.out_emb_channels,
                       int_emb_size=self.int_emb_size, basis_emb_size=self.basis_emb_size,
                       num_blocks=self.num_blocks, num_spherical=self.num_spherical,
                       num_radial=self.num_radial)
        if self.output_initializer not in ("zeros", "glorot_orthogonal"):
            raise ConfigError(f"DimeNetPPConfig.output_initializer={self.output_initializer!r}"
                              "; choose 'zeros' or 'glorot_orthogonal'")


def periodic_triplets(centre: torch.Tensor, neighbour: torch.Tensor, offsets: torch.Tensor,
                      num_nodes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Triplets ``k -> j -> i`` as edge pairs ``(idx_kj, idx_ji)`` (pure torch).

    Edge ``ji`` has centre ``i`` and neighbour ``j``; every edge ``kj`` centred on ``j`` pairs
    with it except its own reverse (``k = i`` with the opposite image shift). In periodic cells
    ``k = i`` through another image is a genuine triplet, which PyG's atom-index test
    (``idx_i != idx_k``) would drop; without periodicity the two rules agree.
    """
    num_edges = centre.numel()
    order = torch.argsort(centre, stable=True)
    counts = torch.bincount(centre, minlength=num_nodes)
    ptr = torch.cumsum(counts, 0) - counts  # first edge (in `order`) of each centre
    per_edge = counts[neighbour]  # candidate kj edges of each ji edge
    idx_ji = torch.repeat_interleave(torch.arange(num_edges, device=centre.device), per_edge)
    first = torch.cumsum(per_edge, 0) - per_edge
    local = torch.arange(idx_ji.numel(), device=centre.device) - first[idx_ji]
    idx_kj = order[ptr[neighbour][idx_ji] + local]
    reverse = (neighbour[idx_kj] == centre[idx_ji]) & \
        (offsets[idx_kj] == -offsets[idx_ji]).all(dim=-1)
    return idx_kj[~reverse], idx_ji[~reverse]


class DimeNetPPBaseline(BaselineModel):
    """``torch_geometric.nn.models.DimeNetPlusPlus`` on our periodic edges and triplets."""

    name = "dimenet++"
    max_z = 94  # PyG's DimeNet embedding has 95 rows

    def __init__(self, config: DimeNetPPConfig | None = None) -> None:
        super().__init__()
        self.config = c = config or DimeNetPPConfig()
        models = import_library("torch_geometric.nn.models", self.name)
        self.net = models.DimeNetPlusPlus(
            hidden_channels=c.hidden_channels, out_channels=1, num_blocks=c.num_blocks,
            int_emb_size=c.int_emb_size, basis_emb_size=c.basis_emb_size,
            out_emb_channels=c.out_emb_channels, num_spherical=c.num_spherical,
            num_radial=c.num_radial, cutoff=c.cutoff, envelope_exponent=c.envelope_exponent,
            num_before_skip=c.num_before_skip, num_after_skip=c.num_after_skip,
            num_output_layers=c.num_output_layers, act="swish",
            output_initializer=c.output_initializer)

    def energy_terms(self, graph, pos):
        net = self.net
        edges = PeriodicEdges(graph, pos, self.config.cutoff)
        i, j = edges.centre, edges.neighbour  # PyG: i = target (col), j = source (row)
        idx_kj, idx_ji = periodic_triplets(i, j, edges.offsets, graph.num_atoms)
        dist = edges.dist
        # PyG DimeNet++: angle between pos_ij = x_i - x_j and pos_jk = x_j - x_k, i.e. between
        # the (periodic) edge vectors of ji and kj, both pointing from centre to neighbour
        v_ji, v_kj = edges.vec[idx_ji], edges.vec[idx_kj]
        a = (v_ji * v_kj).sum(dim=-1)
        b = torch.cross(v_ji, v_kj, dim=1).norm(dim=-1)
        angle = torch.atan2(b, a)

        rbf = net.rbf(dist)
        sbf = net.sbf(dist, angle, idx_kj)
        x = net.emb(graph.z, rbf, i, j)
        n = graph.num_atoms
        p = net.output_blocks[0](x, rbf, i, num_nodes=n)
        for interaction_block, output_block in zip(net.interaction_blocks,
                                                   net.output_blocks[1:]):
            x = interaction_block(x, rbf, sbf, idx_kj, idx_ji)
            p = p + output_block(x, rbf, i, num_nodes=n)
        p = p.squeeze(-1)
        return sum_per_graph(p, graph.batch, graph.num_graphs), p, None
