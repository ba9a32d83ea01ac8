"""``LegNetConfig``: every hyperparameter of the LegNet model, with sensible defaults."""

from __future__ import annotations

from dataclasses import dataclass

from metalegnet.errors import ConfigError

VARIANTS = ("vanilla", "coarsen", "full")
VOXEL_FRAMES = ("cartesian", "cell")
FORCE_HEADS = ("direct", "conservative")
ORIGINS = ("min", "mean", "adsorbate")


@dataclass
class LegNetConfig:
    """LegNet hyperparameters (lengths in Å).

    Attributes:
        variant: ``"vanilla"`` (no coarsening), ``"coarsen"`` (voxel pooling + coarse message
            passing; coarse context enters only the graph readout b_G) or ``"full"`` (plus
            upsampling and gated fusion back to the atoms), the paper's Table S1 ablation.
        voxel_frame: ``"cartesian"`` (paper; not rotation invariant) or ``"cell"`` (fractional
            coordinates for periodic graphs; invariant to rotating positions and cell together).
        force_head: ``"conservative"`` (eq. 23, F = -dE/dx, the default) or ``"direct"``
            (eq. 22, F = W_F v). *Choice*: the default is conservative because the direct
            head did not learn forces in the benchmark: on all four force rows of the quick
            suite it stayed at the zero/mean predictor's MAE, while -dE/dx of the same
            network learned (bench-3d S2F 0.229/0.132 eV/Å against 0.332/0.159 for the
            direct head and 0.333/0.158 for the mean, seeds 0/1). Conservative forces also
            conserve energy in MD, at about twice the cost per step (a second backward).
        cutoff: atom graph cutoff r_c (Å).
        num_features: channels F of scalars s_i ``[F]`` and vectors v_i ``[3, F]``.
        num_radial: Bessel functions in the radial embedding.
        num_blocks: atom-level interaction blocks before pooling.
        num_post_blocks: atom-level interaction blocks after gated fusion (``full`` only).
            *Choice*: 0 by default. One block cost 0.45-0.53x a vanilla forward+backward
            (``benchmarks/results/model_speed_cpu.md``) and did not change accuracy beyond the
            seed spread (c3-cu111, 3 seeds, early stopping: val 0.182 +- 0.036 eV with one
            block, 0.173 +- 0.052 without; ``learning_check_c3_early_stopping.md``).
        voxel_sizes: voxel edge s per pooling level (Å); one level per entry.
        num_levels: if set, the number of pooling levels; ``voxel_sizes`` is truncated or
            extended by doubling its last entry.
        coarse_blocks: interaction blocks on each coarse graph.
        coarse_cutoff_factor: coarse graph cutoff = factor * voxel size of that level.
        voxel_origin: graph origin o_G (eq. 5): ``"min"`` or ``"mean"`` of the coordinates
            (the paper), or ``"adsorbate"`` (beyond the paper, the default): the voxel grid is
            centred on the adsorbate (tag-2 atoms), which makes the assignment invariant to
            translations and wrapping in periodic cells; graphs without tag-2 atoms use
            ``"min"``.
        virtual_node: add the virtual node exchange after each atom-level block.
        envelope_exponent: exponent p of the polynomial cutoff envelope.
        avg_num_neighbors: messages are divided by this number (keeps sums O(1)).
        max_z: largest atomic number of the embedding.
        force_gated_blocks: gated equivariant blocks before the direct force head's linear
            map W_F (0 = the paper's plain linear head, eq. 22).
        extensive: multiply the graph correction b_G by the number of atoms, so a total
            energy scales with the cell (repeating a periodic cell multiplies the vanilla
            model's energy exactly). The trainer sets it for total-energy targets and leaves
            it off for adsorption energies (an intensive quantity), unless the model config
            says otherwise.
    """

    variant: str = "full"
    voxel_frame: str = "cell"
    force_head: str = "conservative"
    cutoff: float = 6.0
    num_features: int = 64
    num_radial: int = 16
    num_blocks: int = 3
    num_post_blocks: int = 0
    voxel_sizes: tuple[float, ...] = (5.0, 10.0)
    num_levels: int | None = None
    coarse_blocks: int = 1
    coarse_cutoff_factor: float = 1.5
    voxel_origin: str = "adsorbate"
    virtual_node: bool = True
    envelope_exponent: int = 6
    avg_num_neighbors: float = 16.0
    max_z: int = 118
    force_gated_blocks: int = 0
    extensive: bool = False

    def __post_init__(self) -> None:
        for name, value, allowed in (("variant", self.variant, VARIANTS),
                                     ("voxel_frame", self.voxel_frame, VOXEL_FRAMES),
                                     ("force_head", self.force_head, FORCE_HEADS),
                                     ("voxel_origin", self.voxel_origin, ORIGINS)):
            if value not in allowed:
                raise ConfigError(f"LegNetConfig.{name}={value!r}; choose one of {allowed}")
        if self.cutoff <= 0:
            raise ConfigError(f"LegNetConfig.cutoff must be > 0 Å, got {self.cutoff}")
        self.voxel_sizes = tuple(float(s) for s in self.voxel_sizes)
        if self.num_levels is not None:
            sizes = list(self.voxel_sizes[: self.num_levels])
            while len(sizes) < self.num_levels:
                sizes.append(sizes[-1] * 2.0 if sizes else 3.0)
            self.voxel_sizes = tuple(sizes)
        if self.variant != "vanilla" and not self.voxel_sizes:
            raise ConfigError("LegNetConfig.voxel_sizes is empty; a multiscale variant "
                              "needs at least one level")
        if any(s <= 0 for s in self.voxel_sizes):
            raise ConfigError(f"LegNetConfig.voxel_sizes must be > 0 Å: {self.voxel_sizes}")

    @property
    def levels(self) -> int:
        return 0 if self.variant == "vanilla" else len(self.voxel_sizes)
