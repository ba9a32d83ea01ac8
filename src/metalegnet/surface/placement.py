"""AdsorbML "random" placement: random surface site + random orientation + heuristic height.

* Site: a uniformly random point of the surface. On a slab or sheet this is a uniform point of
  the in-plane cell (the same distribution as uniform points on the periodic Delaunay triangles
  of the surface atoms that fairchem samples); on a nanocluster a uniform point of its convex
  hull (triangle drawn by area) with the face normal as the surface normal.
* Orientation: ``heuristic`` (fairchem ``random_site_heuristic_placement``, the AdsorbML
  default): a binding atom is put on the site, with a uniform rotation about the normal and a
  tilt within a 20° cone (pi/9); ``random``: a uniform rotation in SO(3) about the centre of
  mass, which is put on the site.
* Height: the adsorbate moves along the normal to the closest position where every
  adsorbate-substrate distance is at least the sum of covalent radii plus ``interstitial_gap``
  (0.1 Å), and its lowest atom is at least ``min_height`` above the local surface (so that a
  small adsorbate cannot fall through a hole, e.g. the centre of a graphene hexagon).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import Atoms
from ase.constraints import FixAtoms
from ase.data import covalent_radii
from scipy.spatial import ConvexHull
from scipy.spatial.transform import Rotation

from metalegnet.errors import ConfigError
from metalegnet.surface.adsorbates import AdsorbateDef
from metalegnet.surface.sites import classify_site

MODES = ("heuristic", "random")


@dataclass(frozen=True)
class PlacementConfig:
    """Placement settings.

    Attributes:
        mode: ``heuristic`` (binding atom down, AdsorbML) or ``random`` (uniform SO(3)).
        interstitial_gap: gap added to the sum of covalent radii at the closest contact (Å).
        wobble_deg: half-angle of the tilt cone of the heuristic mode (degrees).
        min_height: lowest adsorbate atom above the highest nearby substrate atom (Å).
    """

    mode: str = "heuristic"
    interstitial_gap: float = 0.1
    wobble_deg: float = 20.0
    min_height: float = 0.5

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigError(f"placement mode must be one of {MODES}, got {self.mode!r}")
        if not 0.0 <= self.interstitial_gap < 5.0:
            raise ConfigError(f"interstitial_gap must be in [0, 5) Å, got {self.interstitial_gap}")


@dataclass(frozen=True)
class Placement:
    """Where and how one adsorbate was placed.

    Attributes:
        mode: the placement mode.
        site: the sampled surface point (Å, Cartesian).
        normal: the unit surface normal used.
        binding_index: index (within the adsorbate) of the atom put on the site (-1: centre of
            mass, ``random`` mode).
        rotvec: the adsorbate rotation as a rotation vector (rad), applied to the reference
            geometry (binding atom at the origin, molecule along +z).
        height: displacement along the normal from the site to the final position (Å).
        site_label: the initial site name (top, bridge, fcc, hcp, ...).
    """

    mode: str
    site: np.ndarray
    normal: np.ndarray
    binding_index: int
    rotvec: np.ndarray
    height: float
    site_label: str


def sample_site(slab: Atoms, kind: str, rng: np.random.Generator
                ) -> tuple[np.ndarray, np.ndarray]:
    """A uniformly random surface point (Å) and its outward unit normal."""
    if kind == "0d":
        pos = slab.positions
        hull = ConvexHull(pos)
        tri = pos[hull.simplices]
        areas = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]),
                                     axis=1)
        k = rng.choice(len(tri), p=areas / areas.sum())
        r1, r2 = rng.random(2)
        s = np.sqrt(r1)
        point = (1 - s) * tri[k, 0] + s * (1 - r2) * tri[k, 1] + s * r2 * tri[k, 2]
        normal = hull.equations[k, :3] / np.linalg.norm(hull.equations[k, :3])
        return point, normal
    u, v = rng.random(2)
    point = u * slab.cell[0] + v * slab.cell[1]
    point[2] = slab.positions[:, 2].max()
    return point, np.array([0.0, 0.0, 1.0])


def _uniform_cone(rng: np.random.Generator, half_angle_deg: float) -> Rotation:
    """z-rotation by a uniform angle, then the pole moved to a uniform point of a cone."""
    zrot = Rotation.from_euler("z", rng.uniform(0.0, 2.0 * np.pi))
    cz = rng.uniform(np.cos(np.radians(half_angle_deg)), 1.0)
    phi = rng.uniform(0.0, 2.0 * np.pi)
    target = np.array([np.sqrt(1 - cz * cz) * np.cos(phi), np.sqrt(1 - cz * cz) * np.sin(phi),
                       cz])
    tilt = _align(np.array([0.0, 0.0, 1.0]), target)
    return tilt * zrot


def _align(a: np.ndarray, b: np.ndarray) -> Rotation:
    """The smallest rotation taking unit vector ``a`` onto unit vector ``b``."""
    axis = np.cross(a, b)
    s, c = np.linalg.norm(axis), float(np.dot(a, b))
    if s < 1e-12:
        return Rotation.identity() if c > 0 else Rotation.from_rotvec(np.pi * _perp(a))
    return Rotation.from_rotvec(axis / s * np.arctan2(s, c))


def _perp(a: np.ndarray) -> np.ndarray:
    ref = np.array([1.0, 0.0, 0.0]) if abs(a[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    v = np.cross(a, ref)
    return v / np.linalg.norm(v)


def _substrate_images(slab: Atoms, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """Substrate positions (Å) with their in-plane periodic images, and atomic numbers."""
    pos, num = slab.positions, slab.numbers
    if kind == "0d":
        return pos, num
    shifts = [i * slab.cell[0] + j * slab.cell[1] for i in (-1, 0, 1) for j in (-1, 0, 1)]
    return np.concatenate([pos + s for s in shifts]), np.tile(num, len(shifts))


def solve_height(ads_pos: np.ndarray, ads_num: np.ndarray, sub_pos: np.ndarray,
                 sub_num: np.ndarray, normal: np.ndarray, gap: float, min_height: float
                 ) -> float:
    """Smallest shift ``h`` (Å) along ``normal`` with no covalent overlap (+``gap``) and the
    lowest adsorbate atom ``min_height`` above the local surface.

    For a pair at offset ``w`` (adsorbate - substrate), ``|w + h n| = R`` has the upper root
    ``h = -w.n + sqrt((w.n)^2 - |w|^2 + R^2)``; the answer is the largest such root.
    """
    w = ads_pos[:, None, :] - sub_pos[None, :, :]
    wn = w @ normal
    r = covalent_radii[ads_num][:, None] + covalent_radii[sub_num][None, :] + gap
    disc = wn**2 - (w**2).sum(-1) + r**2
    roots = np.where(disc >= 0, -wn + np.sqrt(np.clip(disc, 0.0, None)), -np.inf)
    h = float(roots.max())
    # Local surface: substrate atoms within 3 Å of the line through each adsorbate atom.
    lateral = np.linalg.norm(w - wn[..., None] * normal, axis=-1)
    near = lateral < 3.0
    if near.any():
        floor = (-wn + min_height)[near].max()  # (a + h n - s).n >= min_height
        h = max(h, float(floor))
    return h if np.isfinite(h) else 0.0


def place_adsorbate(slab: Atoms, adsorbate: AdsorbateDef, kind: str, rng: np.random.Generator,
                    config: PlacementConfig | None = None) -> tuple[Atoms, Placement]:
    """Place ``adsorbate`` on ``slab`` (tags 0/1); return the adslab (adsorbate tag 2, FixAtoms
    kept) and how it was placed."""
    config = config or PlacementConfig()
    site, normal = sample_site(slab, kind, rng)
    ref = adsorbate.atoms()
    if config.mode == "heuristic":
        b = int(adsorbate.binding_indices[rng.integers(len(adsorbate.binding_indices))])
        local = ref.positions - ref.positions[b]
        rot = _uniform_cone(rng, config.wobble_deg) if len(ref) > 1 else Rotation.identity()
    else:
        b = -1
        local = ref.positions - ref.get_center_of_mass()
        rot = Rotation.random(random_state=rng) if len(ref) > 1 else Rotation.identity()
    rot = _align(np.array([0.0, 0.0, 1.0]), normal) * rot
    pos = site + rot.apply(local)
    sub_pos, sub_num = _substrate_images(slab, kind)
    h = solve_height(pos, ref.numbers, sub_pos, sub_num, normal, config.interstitial_gap,
                     config.min_height)
    ref.positions = pos + h * normal
    ref.set_tags(np.full(len(ref), 2))
    adslab = slab.copy()
    adslab.set_constraint()
    adslab.extend(ref)
    held = np.flatnonzero(slab.get_tags() == 0)
    if len(held):
        adslab.set_constraint(FixAtoms(indices=held))
    label_atom = len(slab) + (b if b >= 0 else _lowest(ref.positions, normal))
    placement = Placement(config.mode, site, normal, b, rot.as_rotvec(), h,
                          classify_site(adslab, label_atom, kind))
    return adslab, placement


def upright_positions(slab: Atoms, adsorbate: AdsorbateDef, point: np.ndarray,
                      tilt_deg: float = 0.0, azimuth_deg: float = 0.0, gap: float = 0.1,
                      min_height: float = 0.5,
                      images: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Adsorbate positions (Å, its own atom order) for a pose at a given site point: the
    first binding atom over ``point``, the molecule in its reference orientation (along +z,
    the surface normal), tilted by ``tilt_deg`` towards the in-plane direction
    ``azimuth_deg``, lowered to the covalent-contact height (:func:`solve_height`, + ``gap``).

    This is the pose pymatgen's ``AdsorbateSiteFinder`` and AdsorbML's heuristic placement
    use at an enumerated site (no random wobble). ``images``: the slab's positions with
    their in-plane images and the original index of each (default: the 3x3 images).
    """
    ref = adsorbate.atoms()
    b = adsorbate.binding_indices[0]
    local = ref.positions - ref.positions[b]
    if tilt_deg and len(ref) > 1:
        phi = np.radians(azimuth_deg)
        axis = np.array([-np.sin(phi), np.cos(phi), 0.0])  # tilts +z towards (cos, sin, 0)
        local = Rotation.from_rotvec(np.radians(tilt_deg) * axis).apply(local)
    pos = np.asarray(point, float) + local
    if images is None:
        sub_pos, sub_num = _substrate_images(slab, "3d")
    else:
        sub_pos, sub_num = images[0], slab.numbers[images[1]]
    normal = np.array([0.0, 0.0, 1.0])
    return pos + solve_height(pos, ref.numbers, sub_pos, sub_num, normal, gap,
                              min_height) * normal


def _lowest(positions: np.ndarray, normal: np.ndarray) -> int:
    return int(np.argmin(positions @ normal))
