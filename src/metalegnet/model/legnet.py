"""LegNet: equivariant message passing -> voxel pooling -> coarse message passing ->
upsampling -> gated fusion (+ virtual node) -> output block with force heads.

Energies are returned in eV by the composed :class:`EnergyNormalization`:

    E_G = sigma * (sum_i c_i + b_G) + mu_atom * N_G + mu_graph + sum_i eps_{Z_i}

where c_i, b_G are the output block's contributions (eqs. 19-21, model units), sigma and
mu_* are normalisation constants and eps_Z the per-element reference energies fitted on the
training split (buffers of ``model.normalization``, stored once in every checkpoint).
Forces are eV/Å: sigma * W_F v_i (direct head) or -dE/dx (conservative head).

Size consistency: with ``extensive=True`` (the trainer's choice for total-energy targets)
b_G is multiplied by N_G, and every other term is a sum of atom terms or a graph mean, so
repeating a periodic cell multiplies the vanilla model's energy exactly. The voxel variants
see the repeated cell through a different voxel grid; their deviation is measured in
``benchmarks/size_consistency.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from metalegnet.data.graph import AtomicGraph, edge_vectors
from metalegnet.errors import ConfigError
from metalegnet.model.config import LegNetConfig
from metalegnet.model.fusion import GatedFusion, VirtualNode, graph_mean
from metalegnet.model.message import InteractionBlock
from metalegnet.model.normalization import EnergyNormalization
from metalegnet.model.radial import RadialEmbedding
from metalegnet.model.readout import DirectForceHead, OutputBlock, conservative_forces
from metalegnet.model.voxel import (
    adsorbate_anchor,
    inverse_cell,
    mean_pool,
    pool_counts,
    radius_graph_pbc,
    upsample,
    usable_cell,
    voxel_assign,
    wrap_origin,
    wrap_positions,
)


@dataclass
class LegNetOutput:
    """What one forward pass returns (``G`` graphs, ``N`` atoms, ``F`` features)."""

    energy: torch.Tensor  # [G] eV
    forces: torch.Tensor | None  # [N, 3] eV/Å
    contributions: torch.Tensor  # [N] c_i (eq. 19, model units)
    atom_energies: torch.Tensor  # [N] eV, sums to energy per graph
    latent: torch.Tensor  # [N, F] final atom-level scalar features s_i
    graph_correction: torch.Tensor  # [G] b_G (model units)
    gate: torch.Tensor | None = None  # [N] gamma_i (eq. 18), None for models without one
    num_coarse: tuple[int, ...] = ()  # coarse nodes per level (whole batch)
    #: per level, [N] index of the voxel (coarse node, numbered over the whole batch) that
    #: holds each atom; empty for vanilla
    voxel_index: tuple[torch.Tensor, ...] = ()


def check_graph_cutoff(graph: AtomicGraph, cutoff: float, model: str) -> None:
    """Refuse a graph whose neighbour list is shorter than the model's cutoff (its atoms
    would miss neighbours and the energies would be silently wrong)."""
    if graph.cutoff and graph.cutoff < cutoff - 1e-6:
        raise ConfigError(f"{model} has a {cutoff:g} Å cutoff but the graph's neighbour list "
                          f"was built with {graph.cutoff:g} Å; rebuild it with "
                          f"metalegnet.inference."
                          f"build_graphs(model, structures) or cutoff >= {cutoff:g}")


def _unit(vec: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    d = torch.sqrt((vec * vec).sum(-1) + 1e-12)
    return d, vec / d.unsqueeze(-1)


class CoarseLevel(nn.Module):
    """Message passing on one coarse graph (voxel size s, cutoff factor * s)."""

    def __init__(self, config: LegNetConfig, voxel_size: float) -> None:
        super().__init__()
        self.voxel_size = float(voxel_size)
        self.cutoff = config.coarse_cutoff_factor * self.voxel_size
        self.radial = RadialEmbedding(self.cutoff, config.num_radial, config.envelope_exponent)
        self.blocks = nn.ModuleList(
            InteractionBlock(config.num_features, config.num_radial, avg_num_neighbors=4.0)
            for _ in range(config.coarse_blocks))

    def forward(self, x, s, v, batch, cell, pbc):
        edge_index, vec = radius_graph_pbc(x, batch, cell, pbc, self.cutoff)
        d, unit = _unit(vec)
        radial = self.radial(d)
        for block in self.blocks:
            s, v = block(s, v, edge_index, unit, radial)
        return s, v


class LegNet(nn.Module):
    """The Meta-LegNet network; ``forward(graph)`` returns a :class:`LegNetOutput`.

    The multiscale modules (coarse levels, fusion, post-fusion blocks) are drawn from a forked
    random generator and start as the identity, so for the same seed every variant shares the
    vanilla model's weights and, untrained, its energies and forces.
    """

    def __init__(self, config: LegNetConfig | None = None) -> None:
        super().__init__()
        config = config or LegNetConfig()
        self.config = config
        self.normalization = EnergyNormalization(config.max_z + 1)
        f = config.num_features
        self.embedding = nn.Embedding(config.max_z + 1, f)
        self.radial = RadialEmbedding(config.cutoff, config.num_radial, config.envelope_exponent)
        self.blocks = nn.ModuleList(
            InteractionBlock(f, config.num_radial, config.avg_num_neighbors)
            for _ in range(config.num_blocks))
        self.virtual = (nn.ModuleList(VirtualNode(f) for _ in range(config.num_blocks))
                        if config.virtual_node else None)
        # forked: the draws of the shared weights after this stay those of vanilla
        with torch.random.fork_rng(devices=[]):
            self.levels = nn.ModuleList(CoarseLevel(config, s) for s in
                                        (config.voxel_sizes if config.levels else ()))
            # fused vectors feed the post-fusion blocks and the direct force head only
            vectors = config.num_post_blocks > 0 or config.force_head == "direct"
            self.fusion = (nn.ModuleList(GatedFusion(f, vectors) for _ in self.levels)
                           if config.variant == "full" else None)
            self.post_blocks = nn.ModuleList(
                InteractionBlock(f, config.num_radial, config.avg_num_neighbors,
                                 identity_init=True)
                for _ in range(config.num_post_blocks if config.variant == "full" else 0))
        context = f * len(self.levels) if config.variant == "coarsen" else 0
        self.output = OutputBlock(f, context_features=context, extensive=config.extensive)
        self.force_head = (DirectForceHead(f, config.force_gated_blocks)
                           if config.force_head == "direct" else None)

    @property
    def cutoff(self) -> float:
        """Atom-graph cutoff r_c (Å): graphs must be built with at least this cutoff."""
        return float(self.config.cutoff)

    def needs_position_grad(self, compute_forces: bool = True) -> bool:
        """Whether a forward pass needs autograd on positions (conservative forces)."""
        return compute_forces and self.config.force_head == "conservative"

    # ------------------------------------------------------------------ forward
    def forward(self, graph: AtomicGraph, compute_forces: bool = True,
                create_graph: bool | None = None) -> LegNetOutput:
        """Energies (eV), forces (eV/Å) and per-atom terms of every graph of ``graph``.

        ``create_graph``: keep the graph of the force computation, so a force loss can be
        differentiated (default: ``self.training``; meta-learning passes it explicitly).
        """
        cfg = self.config
        check_graph_cutoff(graph, cfg.cutoff, "LegNet")
        conservative = self.needs_position_grad(compute_forces)
        pos = graph.pos
        if conservative and not pos.requires_grad:
            pos = pos.detach().requires_grad_(True)
        batch, num_graphs = graph.batch, graph.num_graphs
        edge_index, vec = graph.edge_index, edge_vectors(graph, pos)
        if graph.cutoff > cfg.cutoff + 1e-6:  # a longer neighbour list: keep r < r_c only
            keep = (vec.detach() ** 2).sum(-1) < cfg.cutoff ** 2
            edge_index, vec = edge_index[:, keep], vec[keep]

        s = self.embedding(graph.z)
        v = None  # zero vectors: the first block skips its a_ij * v_j term
        d, unit = _unit(vec)
        radial = self.radial(d)
        u = torch.zeros(num_graphs, s.shape[1], dtype=s.dtype, device=s.device)
        for k, block in enumerate(self.blocks):
            s, v = block(s, v, edge_index, unit, radial)
            if self.virtual is not None:
                s, u = self.virtual[k](s, u, batch)
        if v is None:  # no atom-level block
            v = torch.zeros(s.shape[0], 3, s.shape[1], dtype=s.dtype, device=s.device)

        context, num_coarse, voxel_index = None, [], ()
        if len(self.levels):
            s, v, context, num_coarse, voxel_index = self._multiscale(graph, pos, s, v)
            for block in self.post_blocks:
                s, v = block(s, v, edge_index, unit, radial)

        out = self.output(s, batch, num_graphs, context)
        energy, atom_energies = self.normalization(out["contributions"],
                                                   out["graph_correction"], graph.z, batch,
                                                   graph.natoms)
        forces = None
        if compute_forces:
            if conservative:
                forces = conservative_forces(
                    energy, pos, create_graph=self.training if create_graph is None
                    else create_graph)
            else:
                forces = self.normalization.energy_scale.to(s.dtype) * self.force_head(v, s)
        return LegNetOutput(energy=energy, forces=forces, contributions=out["contributions"],
                            atom_energies=atom_energies, latent=s,
                            graph_correction=out["graph_correction"],
                            gate=out["gate"], num_coarse=tuple(num_coarse),
                            voxel_index=voxel_index)

    def _multiscale(self, graph: AtomicGraph, pos: torch.Tensor, s: torch.Tensor,
                    v: torch.Tensor):
        """Pool level by level, run coarse message passing, then (``full``) upsample and fuse."""
        cfg = self.config
        cell = usable_cell(graph.cell.to(pos.dtype), graph.pbc)
        inv = inverse_cell(cell)  # once per forward pass, shared by every level
        anchor, anchored = None, None
        if cfg.voxel_origin == "adsorbate":
            anchor, anchored = adsorbate_anchor(pos, graph.batch, graph.tags, graph.num_graphs,
                                                cell, graph.pbc, inv=inv)
        x = pos
        node_batch, node_s, node_v = graph.batch, s, v
        to_level = torch.arange(s.shape[0], device=s.device)  # atom -> node of current level
        pooled, num_coarse = [], []
        for level in self.levels:
            w = wrap_origin(cell, graph.pbc, level.voxel_size, cfg.voxel_frame, anchor, anchored)
            x = wrap_positions(x, node_batch, cell, graph.pbc, w, inv=inv)
            a = voxel_assign(x, node_batch, graph.num_graphs, cell, graph.pbc,
                             level.voxel_size, cfg.voxel_frame, cfg.voxel_origin, w=w,
                             anchor=anchor, anchored=anchored, inv=inv)
            count = pool_counts(a.index, a.num_coarse, s.dtype)
            x = mean_pool(x, a.index, a.num_coarse, count)
            node_s = mean_pool(node_s, a.index, a.num_coarse, count)
            node_v = mean_pool(node_v, a.index, a.num_coarse, count)
            node_batch = a.batch
            node_s, node_v = level(x, node_s, node_v, node_batch, cell, graph.pbc)
            to_level = a.index[to_level]
            pooled.append((node_s, node_v, node_batch, to_level))
            num_coarse.append(a.num_coarse)
        context = None
        if cfg.variant == "coarsen":
            context = torch.cat([graph_mean(ps, pb, graph.num_graphs)
                                 for ps, _, pb, _ in pooled], dim=-1)
        else:
            for fusion, (ps, pv, _, idx) in zip(self.fusion, pooled):
                s, v = fusion(s, v, upsample(ps, idx), upsample(pv, idx))
        return s, v, context, num_coarse, tuple(p[3] for p in pooled)

    def extra_repr(self) -> str:
        c = self.config
        return (f"variant={c.variant!r}, voxel_frame={c.voxel_frame!r}, "
                f"force_head={c.force_head!r}, cutoff={c.cutoff}, "
                f"num_features={c.num_features}, voxel_sizes={c.voxel_sizes}")
