"""One PNG per structure: top and side view, atoms coloured by importance w_i (eq. 31), the
learned environment (eq. 32) outlined in red (ASE's ``ase.visualize.plot`` + matplotlib)."""

from __future__ import annotations

import io
import os

import numpy as np
from ase import Atoms

from metalegnet.explain.environment import AdsorptionEnvironment

#: colour map of the importances (shared with report.html)
CMAP = "viridis"
OUTLINE = "#e4002b"


def importance_colors(weights: np.ndarray) -> list:
    """RGBA colour of each w_i in [0, 1] on :data:`CMAP`."""
    import matplotlib

    cmap = matplotlib.colormaps[CMAP]
    return [cmap(float(np.clip(w, 0.0, 1.0))) for w in weights]


def hex_colors(weights: np.ndarray) -> list[str]:
    import matplotlib.colors as mcolors

    return [mcolors.to_hex(c) for c in importance_colors(weights)]


def colour_weights(env: AdsorptionEnvironment, relative: bool = False) -> np.ndarray:
    """The weights a picture colours by: w_i, or with ``relative`` w_i / max over the catalyst
    atoms (clipped to 1; makes the slab visible when the adsorbate carries nearly all of E)."""
    w = env.weights
    cat = env.tags != 2
    if relative and cat.any() and w[cat].max() > 0:
        return np.clip(w / w[cat].max(), 0.0, 1.0)
    return w


def _panel(ax, atoms: Atoms, env: AdsorptionEnvironment, rotation: str, title: str,
           relative: bool) -> None:
    from ase.visualize.plot import Matplotlib
    from matplotlib.patches import Circle

    colors = importance_colors(colour_weights(env, relative))
    writer = Matplotlib(atoms, ax, rotation=rotation, colors=colors, radii=0.85,
                        show_unit_cell=2 if rotation == "" else 0)
    writer.write()
    for a in env.indices:  # outline on top, so buried environment atoms still show
        ax.add_patch(Circle(writer.positions[a, :2], writer.d[a] / 2, fill=False,
                            edgecolor=OUTLINE, linewidth=1.8, zorder=10))
    ax.set_title(title, fontsize=9)
    ax.set_axis_off()


def attribution_figure(atoms: Atoms, env: AdsorptionEnvironment, title: str = "",
                       relative: bool = False):
    """The matplotlib figure: top view (along -z) and side view (along y); ``relative``:
    colour by :func:`colour_weights` relative to the catalyst's largest weight."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    atoms = atoms.copy()
    atoms.calc = None
    fig, axes = plt.subplots(1, 2, figsize=(9.0, 4.2), gridspec_kw={"width_ratios": [1, 1]})
    _panel(axes[0], atoms, env, "", "top view", relative)
    _panel(axes[1], atoms, env, "-90x", "side view", relative)
    sm = ScalarMappable(norm=Normalize(0, 1), cmap=CMAP)
    cb = fig.colorbar(sm, cax=fig.add_axes([0.89, 0.12, 0.02, 0.66]))
    cb.set_label("w_i / max over catalyst atoms" if relative
                 else "importance w_i = |c_i| / max |c_j|")
    thr = "undefined" if env.degenerate else f"{env.threshold:.3g}"
    fig.suptitle(f"{title}\nenvironment (red outline): {env.size} atoms "
                 f"({int(env.surface.sum())} catalyst), Otsu t = {thr}", fontsize=9, y=0.99)
    fig.subplots_adjust(top=0.8, left=0.02, right=0.86, wspace=0.05)
    return fig


def save_attribution_png(path: str | os.PathLike, atoms: Atoms, env: AdsorptionEnvironment,
                         title: str = "", dpi: int = 110, relative: bool = False) -> None:
    """Write :func:`attribution_figure` to ``path`` atomically."""
    import matplotlib.pyplot as plt

    from metalegnet.config import atomic_write_bytes

    fig = attribution_figure(atoms, env, title, relative)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
