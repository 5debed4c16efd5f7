"""The synthetic whole-body patient behind ``sample_ct/``, its ground truth, and small test phantoms.

:func:`make_phantom` builds an adult whole-body CT (supine, head first) from analytic shapes (ellipsoids,
tapered capsules, per-slice superellipses), together with the ground-truth label of every voxel
(:mod:`hbiview.labels`), the true z of the anatomical landmarks and the centre z of every vertebral body.
:func:`water_phantom` and :func:`lung_slab_phantom` are the boxes used to validate the dose engine.

Coordinates are DICOM patient coordinates (LPS, mm): x towards the patient's left, y posterior, z superior.
The soles are at z = 0 and the vertex at ``z = height_mm``; the patient's back rests on the plane
y = :data:`BACK_Y_MM`. The anatomy is drawn in a reference frame for a 1750 mm adult and mapped to the grid
by scaling z with ``height_mm / 1750``, x with ``lateral_scale`` and the distance from the back plane with
``ap_scale``.

Proportions follow adult anthropometry: landmark heights as fractions of stature after Drillis & Contini
(1966, in Winter, *Biomechanics and Motor Control of Human Movement*): shoulder 0.818, greater trochanter
0.530, knee 0.285, ankle 0.039; the iliac crest top at 0.60 of stature, level with the lower L4 body
(the supracristal plane). Vertebral body and disc heights are typical adult values (cervical bodies 13-15 mm,
thoracic 17-24 mm, lumbar 25-28 mm; discs 5 mm cervical and thoracic, 7-10 mm lumbar).

Regenerate the bundled series with ``python -m hbiview.sample sample_ct``.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import numpy as np
from numpy.typing import ArrayLike
from scipy import ndimage

from hbiview import labels as lb
from hbiview.errors import HbiviewError, InputError, warn
from hbiview.geometry import Geometry
from hbiview.volume import CTVolume

__all__ = [
    "BACK_Y_MM",
    "NOMINAL_HU",
    "SAMPLE_TRANSFER_SYNTAX",
    "SAMPLE_UID_SEED",
    "Phantom",
    "lung_slab_phantom",
    "main",
    "make_phantom",
    "water_phantom",
    "write_sample_ct",
]

#: LPS y (mm) of the plane the patient's back rests on (the posterior skin surface of the trunk).
BACK_Y_MM = 110.0
REFERENCE_HEIGHT_MM = 1750.0

AIR_HU = -1000
PADDING_HU = -1024

#: Transfer syntax and UID seed of the bundled ``sample_ct/`` series.
SAMPLE_TRANSFER_SYNTAX = "rle"
SAMPLE_UID_SEED = "hbiview-sample-ct-v1"

# Label values (hbiview.labels.TISSUE_LABELS)
MUSCLE, FAT, SKIN, LUNG_L, LUNG_R, AIRWAY, HEART, LIVER = 1, 2, 3, 4, 5, 6, 7, 8
KIDNEY_L, KIDNEY_R, GAS, BRAIN, CORD, BOWEL, SPLEEN, BLADDER = 9, 10, 11, 12, 13, 14, 15, 16


def _nominal_hu() -> dict[int, float]:
    """Nominal (noise-free) HU of every ground-truth label.

    Typical unenhanced adult CT values: air -1000, lung -850 (inflated parenchyma -800..-900), fat -100,
    muscle and blood 40, liver 60, brain 35, kidney 30, spleen 50, urine 10, bowel content 20, bowel gas
    -900, cortical bone 1000-1400, cancellous (trabecular) bone 200-300.
    """
    hu: dict[int, float] = {
        MUSCLE: 40,
        FAT: -100,
        SKIN: 40,
        LUNG_L: -850,
        LUNG_R: -850,
        AIRWAY: -1000,
        HEART: 40,
        LIVER: 60,
        KIDNEY_L: 30,
        KIDNEY_R: 30,
        GAS: -900,
        BRAIN: 35,
        CORD: 30,
        BOWEL: 20,
        SPLEEN: 50,
        BLADDER: 10,
    }
    cortical = {
        "cranium": 1300,
        "mandible": 1300,
        "ribs": 1000,
        "sternum": 1000,
        "clavicles": 1100,
        "scapulae": 1100,
        "cervical_spine": 1100,
        "thoracic_spine": 1100,
        "lumbar_spine": 1100,
        "sacrum": 1100,
        "pelvis_os_coxae": 1150,
        "femora_upper_half": 1400,
        "femora_lower_half": 1400,
        "humeri_upper_half": 1350,
        "humeri_lower_half": 1350,
        "tibiae_fibulae": 1400,
        "forearms": 1300,
        "hands": 1100,
        "feet": 1100,
        "patellae": 1100,
    }
    for site in lb.BONE_SITES:
        hu[lb.cortical_label(site)] = cortical[site]
        # marrow-rich axial skeleton ~250 HU; limb and extremity interiors (yellow marrow) ~200 HU
        hu[lb.cancellous_label(site)] = 250 if site in lb.MARROW_SITES else 200
    return hu


#: Noise-free HU of each ground-truth label value (see :mod:`hbiview.labels`).
NOMINAL_HU: MappingProxyType[int, float] = MappingProxyType(_nominal_hu())


@dataclass(frozen=True, eq=False)
class Phantom:
    """A synthetic CT with its ground truth.

    Parameters
    ----------
    ct
        The CT image (HU, int16).
    labels
        Ground-truth label of each voxel (int16, same ``(z, y, x)`` grid as ``ct``): 0 outside the body,
        tissues 1..16 (:data:`hbiview.labels.TISSUE_LABELS`), ``100 + i`` cortical shell and ``200 + i``
        cancellous interior of bone site ``hbiview.labels.BONE_SITES[i]``.
    landmarks_mm
        True z (LPS mm, superior positive) of the landmarks inside the scanned range: ``vertex``,
        ``skull_base`` (centre of C1), ``lung_apex`` (highest lung point), ``lung_base`` (top of the higher,
        right, diaphragm dome), ``iliac_crest`` (top of the iliac crests), ``femoral_heads`` (centre of the
        heads), ``knees`` (knee joint line), ``ankles`` (ankle joint, top of the talus), ``soles``.
    vertebrae_mm
        Centre z (mm) of each vertebral body inside the scanned range, ``"C1"`` .. ``"L5"`` and ``"S1"``.
    """

    ct: CTVolume
    labels: np.ndarray
    landmarks_mm: dict[str, float]
    vertebrae_mm: dict[str, float]

    def __post_init__(self) -> None:
        labels = np.asarray(self.labels, dtype=np.int16).view()
        labels.setflags(write=False)
        object.__setattr__(self, "labels", labels)

    @property
    def geometry(self) -> Geometry:
        """The grid of ``ct`` and ``labels``."""
        return self.ct.geometry

    def mask(self, *label_values: int) -> np.ndarray:
        """Boolean mask of the voxels holding any of ``label_values``."""
        return np.isin(self.labels, label_values)

    def bone_mask(self, site: str | None = None, cancellous_only: bool = False) -> np.ndarray:
        """Voxels of one bone site (or of the whole skeleton when ``site`` is None)."""
        sites = lb.BONE_SITES if site is None else (site,)
        values = [lb.cancellous_label(s) for s in sites]
        if not cancellous_only:
            values += [lb.cortical_label(s) for s in sites]
        return self.mask(*values)


# ====================================================================== drawing machinery
Region = tuple[tuple[slice, slice, slice], np.ndarray]


class _Canvas:
    """Label volume plus the anatomical coordinates of its voxel centres (1-D, increasing)."""

    def __init__(self, za: np.ndarray, ya: np.ndarray, xa: np.ndarray) -> None:
        self.za, self.ya, self.xa = za, ya, xa
        self.labels = np.zeros((za.size, ya.size, xa.size), dtype=np.int16)

    @staticmethod
    def _range(axis: np.ndarray, lo: float, hi: float) -> slice:
        return slice(int(np.searchsorted(axis, lo, "left")), int(np.searchsorted(axis, hi, "right")))

    def box(self, lo: Sequence[float], hi: Sequence[float]) -> tuple[slice, slice, slice] | None:
        """Index slices of the voxels whose centres lie in the box ``lo``..``hi`` (x, y, z)."""
        sl = (
            self._range(self.za, lo[2], hi[2]),
            self._range(self.ya, lo[1], hi[1]),
            self._range(self.xa, lo[0], hi[0]),
        )
        if any(s.stop <= s.start for s in sl):
            return None
        return sl

    def grid(self, sl: tuple[slice, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Open-grid coordinates ``(Z, Y, X)`` (anatomical mm) of a sub-box, broadcastable."""
        return (
            self.za[sl[0]][:, None, None],
            self.ya[sl[1]][None, :, None],
            self.xa[sl[2]][None, None, :],
        )

    def paint(
        self,
        region: Region | None,
        label: int,
        only: Sequence[int] | None = None,
        where: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray] | None = None,
    ) -> None:
        """Set ``label`` in ``region``, optionally only over ``only`` labels and where ``where`` holds."""
        if region is None:
            return
        sl, mask = region
        mask = np.broadcast_to(mask, tuple(s.stop - s.start for s in sl))
        if where is not None:
            mask = mask & where(*self.grid(sl))
        view = self.labels[sl]
        if only is not None:
            mask = mask & np.isin(view, only)
        view[mask] = label


def _ellipsoid(
    cv: _Canvas,
    centre: ArrayLike,
    semi: ArrayLike,
    axes: np.ndarray | None = None,
    power: float = 2.0,
) -> Region | None:
    """Ellipsoid (superellipsoid for ``power`` > 2); ``axes`` rows are its local unit axes in (x, y, z)."""
    c = np.asarray(centre, float)
    r = np.asarray(semi, float)
    ext = np.full(3, r.max()) if axes is not None else r
    sl = cv.box(c - ext, c + ext)
    if sl is None:
        return None
    z, y, x = cv.grid(sl)
    d = (x - c[0], y - c[1], z - c[2])
    if axes is not None:
        u = [axes[i, 0] * d[0] + axes[i, 1] * d[1] + axes[i, 2] * d[2] for i in range(3)]
    else:
        u = list(d)
    total = sum(np.abs(u[i] / r[i]) ** power for i in range(3))
    return sl, total <= 1.0


def _capsule(cv: _Canvas, p0: ArrayLike, p1: ArrayLike, r0: float, r1: float | None = None) -> Region | None:
    """Tapered capsule: points within radius ``r(t)`` of the segment ``p0``-``p1``."""
    r1 = r0 if r1 is None else r1
    a = np.asarray(p0, float)
    b = np.asarray(p1, float)
    rmax = max(r0, r1)
    sl = cv.box(np.minimum(a, b) - rmax, np.maximum(a, b) + rmax)
    if sl is None:
        return None
    z, y, x = cv.grid(sl)
    d = b - a
    length2 = float(d @ d) or 1e-9
    px, py, pz = x - a[0], y - a[1], z - a[2]
    t = np.clip((px * d[0] + py * d[1] + pz * d[2]) / length2, 0.0, 1.0)
    dist2 = (px - t * d[0]) ** 2 + (py - t * d[1]) ** 2 + (pz - t * d[2]) ** 2
    r = r0 + (r1 - r0) * t
    return sl, dist2 <= r * r


def _tube(cv: _Canvas, points: ArrayLike, radii: ArrayLike) -> list[Region]:
    """Union of tapered capsules along a polyline."""
    pts = np.asarray(points, float)
    rad = np.broadcast_to(np.asarray(radii, float), (len(pts),))
    out = []
    for i in range(len(pts) - 1):
        region = _capsule(cv, pts[i], pts[i + 1], rad[i], rad[i + 1])
        if region is not None:
            out.append(region)
    return out


def _zprofile(
    cv: _Canvas,
    table: np.ndarray,
    power: float = 2.0,
    shrink: tuple[float, float] = (0.0, 0.0),
    cx: float = 0.0,
) -> Region | None:
    """Stack of axial superellipses from a profile table.

    ``table`` rows are ``(z, half_width, half_depth, centre_y)`` (mm); values are interpolated in z and the
    semi-axes reduced by ``shrink`` (x, y).
    """
    z0, z1 = table[0, 0], table[-1, 0]
    amax = table[:, 1].max()
    ylo = (table[:, 3] - table[:, 2]).min()
    yhi = (table[:, 3] + table[:, 2]).max()
    sl = cv.box((cx - amax, ylo, z0), (cx + amax, yhi, z1))
    if sl is None:
        return None
    z, y, x = cv.grid(sl)
    a = np.interp(z, table[:, 0], table[:, 1]) - shrink[0]
    b = np.interp(z, table[:, 0], table[:, 2]) - shrink[1]
    yc = np.interp(z, table[:, 0], table[:, 3])
    a = np.maximum(a, 1e-3)
    b = np.maximum(b, 1e-3)
    inside = (np.abs((x - cx) / a) ** power + np.abs((y - yc) / b) ** power) <= 1.0
    inside &= (a > 1e-2) & (b > 1e-2)
    return sl, inside


class _Bone:
    """Collects the pieces of one bone, then paints its cortical shell and cancellous interior.

    The interior is the bone eroded by one voxel (6-connected), so the shell is closed and at least one
    voxel thick whatever the grid spacing.
    """

    def __init__(self, cv: _Canvas, site: str) -> None:
        self.cv = cv
        self.site = site
        self.pieces: list[tuple[Region, bool]] = []

    def add(self, *regions: Region | list[Region] | None) -> _Bone:
        for region in regions:
            if isinstance(region, list):
                self.add(*region)
            elif region is not None:
                self.pieces.append((region, True))
        return self

    def sub(self, *regions: Region | None) -> _Bone:
        for region in regions:
            if region is not None:
                self.pieces.append((region, False))
        return self

    def commit(
        self,
        split: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray] | None = None,
        split_site: str | None = None,
        keep: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray] | None = None,
    ) -> None:
        """Paint the bone; voxels where ``split`` holds get the labels of ``split_site``."""
        adds = [p for p, positive in self.pieces if positive]
        if not adds:
            return
        shape = self.cv.labels.shape
        lo = [max(min(sl[k].start for sl, _ in adds) - 1, 0) for k in range(3)]
        hi = [min(max(sl[k].stop for sl, _ in adds) + 1, shape[k]) for k in range(3)]
        big = tuple(slice(lo[k], hi[k]) for k in range(3))
        local = np.zeros([hi[k] - lo[k] for k in range(3)], dtype=bool)
        for (sl, mask), positive in self.pieces:
            sub = tuple(slice(sl[k].start - lo[k], sl[k].stop - lo[k]) for k in range(3))
            if positive:
                local[sub] |= mask
            else:
                local[sub] &= ~np.broadcast_to(mask, local[sub].shape)
        if keep is not None:
            local &= keep(*self.cv.grid(big))
        if not local.any():
            return
        # border_value=1: a bone cut by the edge of the scan has no cortex along the cut
        inner = ndimage.binary_erosion(
            local, structure=ndimage.generate_binary_structure(3, 1), border_value=1
        )
        # voxels touching the scan edge only (not a padded box edge) keep border_value semantics
        edge = np.zeros_like(local)
        for k in range(3):
            if lo[k] > 0:
                idx = [slice(None)] * 3
                idx[k] = slice(0, 1)
                edge[tuple(idx)] = True
            if hi[k] < shape[k]:
                idx = [slice(None)] * 3
                idx[k] = slice(-1, None)
                edge[tuple(idx)] = True
        inner &= ~edge
        view = self.cv.labels[big]
        cort = lb.cortical_label(self.site)
        canc = lb.cancellous_label(self.site)
        if split is not None and split_site is not None:
            second = np.broadcast_to(split(*self.cv.grid(big)), local.shape)
            view[local & ~inner & ~second] = cort
            view[inner & ~second] = canc
            view[local & ~inner & second] = lb.cortical_label(split_site)
            view[inner & second] = lb.cancellous_label(split_site)
        else:
            view[local & ~inner] = cort
            view[inner] = canc


def _rot(yaw_deg: float = 0.0, pitch_deg: float = 0.0, roll_deg: float = 0.0) -> np.ndarray:
    """Rows = local unit axes (x, y, z) after rotating about z (yaw), then x (pitch), then y (roll)."""
    a, b, c = (math.radians(v) for v in (yaw_deg, pitch_deg, roll_deg))
    rz = np.array([[math.cos(a), -math.sin(a), 0], [math.sin(a), math.cos(a), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, math.cos(b), -math.sin(b)], [0, math.sin(b), math.cos(b)]])
    ry = np.array([[math.cos(c), 0, math.sin(c)], [0, 1, 0], [-math.sin(c), 0, math.cos(c)]])
    return (rz @ rx @ ry).T


# ====================================================================== the reference anatomy (1750 mm)
# Trunk outline: z, half-width, half-depth (mm); the back rests on y = BACK_Y_MM so centre y = back - depth.
_TRUNK = np.array(
    [
        [828, 110, 70],
        [845, 150, 95],
        [870, 170, 108],
        [905, 178, 112],
        [950, 172, 110],
        [1000, 160, 106],
        [1050, 150, 103],
        [1100, 148, 103],
        [1150, 152, 106],
        [1200, 158, 110],
        [1250, 162, 114],
        [1300, 165, 116],
        [1350, 166, 116],
        [1400, 168, 112],
        [1425, 172, 106],
        [1445, 160, 96],
        [1462, 130, 84],
        [1478, 95, 70],
        [1492, 62, 58],
    ],
    dtype=float,
)


def _trunk_table(extra_depth: float = 0.0) -> np.ndarray:
    t = _TRUNK.copy()
    centre_y = BACK_Y_MM - t[:, 2]
    return np.column_stack([t[:, 0], t[:, 1], t[:, 2] + extra_depth, centre_y])


# Vertebral bodies from S1 upward: name, body height, disc below, half-width, half-depth, canal radius (mm)
_SPINE_SPEC = [
    ("L5", 28, 10, 26, 18, 9.5),
    ("L4", 28, 10, 25.5, 18, 9.5),
    ("L3", 27, 10, 25, 17.5, 9.5),
    ("L2", 26, 9, 24, 17, 9.5),
    ("L1", 25, 8, 23, 16.5, 9.5),
    ("T12", 24, 7, 21, 16, 8.0),
    ("T11", 23, 5, 20, 15.5, 8.0),
    ("T10", 22, 5, 19, 15, 8.0),
    ("T9", 21, 5, 18, 14.5, 8.0),
    ("T8", 20, 5, 17, 14, 8.0),
    ("T7", 20, 5, 16.5, 14, 8.0),
    ("T6", 19, 5, 16, 13.5, 8.0),
    ("T5", 19, 5, 15.5, 13, 8.0),
    ("T4", 18, 5, 15, 12.5, 8.0),
    ("T3", 18, 5, 15, 12, 8.0),
    ("T2", 17, 5, 15, 11.5, 8.5),
    ("T1", 17, 5, 15, 11, 8.5),
    ("C7", 14, 5, 14, 9.5, 9.0),
    ("C6", 13, 5, 13.5, 9, 9.5),
    ("C5", 13, 5, 13, 9, 9.5),
    ("C4", 13, 5, 12.5, 9, 9.5),
    ("C3", 13, 5, 12, 9, 9.5),
    ("C2", 15, 5, 12, 9, 10.0),
    ("C1", 10, 4, 10, 6, 11.0),
]
_S1_TOP_Z = 1000.0
CREST_TOP_Z = 1050.0  # top of the iliac crests (reference frame), 0.60 of stature

# y of the vertebral body centres along the spine (lordosis, kyphosis; supine)
_SPINE_Y = np.array(
    [
        [860, 72],
        [900, 68],
        [950, 52],
        [985, 30],
        [1025, 22],
        [1100, 18],
        [1170, 30],
        [1230, 40],
        [1300, 45],
        [1380, 45],
        [1450, 40],
        [1500, 32],
        [1560, 26],
        [1620, 28],
    ],
    dtype=float,
)


def _spine_levels() -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    z = _S1_TOP_Z
    for name, height, disc, half_w, half_d, canal in _SPINE_SPEC:
        bottom = z + disc
        centre = bottom + height / 2
        z = bottom + height
        out[name] = {
            "z": centre,
            "h": height / 2,
            "w": half_w,
            "d": half_d,
            "canal": canal,
            "y": float(np.interp(centre, _SPINE_Y[:, 0], _SPINE_Y[:, 1])),
        }
    return out


_LEVELS = _spine_levels()
_S1_CENTRE_Z = _S1_TOP_Z - 15.0
C1_Z = _LEVELS["C1"]["z"]

# Head
_HEAD_C = np.array([0.0, 6.0, 1647.0])  # centre of the scalp ellipsoid
_HEAD_SCALP = np.array([76.0, 99.0, 103.0])
_SKULL_OUT = np.array([70.0, 93.0, 97.0])
_SKULL_IN = np.array([60.0, 83.0, 87.0])
VERTEX_Z = _HEAD_C[2] + _HEAD_SCALP[2]

# Lungs: z, centre |x|, half-width, half-depth, centre y (per lung)
_LUNG = np.array(
    [
        [1150, 82, 42, 45, 72],
        [1200, 80, 58, 70, 45],
        [1250, 76, 66, 88, 22],
        [1300, 74, 68, 95, 12],
        [1350, 72, 68, 93, 12],
        [1400, 67, 62, 82, 18],
        [1430, 60, 52, 66, 24],
        [1452, 54, 40, 50, 28],
        [1468, 50, 27, 34, 32],
        [1480, 47, 12, 14, 35],
        [1484, 46, 2, 3, 36],
    ],
    dtype=float,
)
LUNG_APEX_Z = 1484.0
DOME_R_Z = 1262.0  # right diaphragm dome (higher, above the liver)
DOME_L_Z = 1248.0


def _diaphragm_z(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Height (mm) of the diaphragm surface: domes at x = -+72, falling laterally and most posteriorly."""
    dome = np.where(x < 0, DOME_R_Z, DOME_L_Z)
    off = np.abs(x) - 72.0
    lateral = np.where(off > 0, 0.011, 0.006) * off**2
    posterior = 0.0085 * np.clip(y - 10.0, 0, None) ** 2
    anterior = 0.003 * np.clip(-40.0 - y, 0, None) ** 2
    return dome - lateral - posterior - anterior


FEMORAL_HEAD_Z = 927.0
_HIP_X = 92.0
_HIP_Y = 2.0
KNEE_Z = 492.0
ANKLE_Z = 88.0


# ---------------------------------------------------------------------- soft tissue outline
def _limb_paths(arms: str) -> dict[str, list[tuple[list[list[float]], list[float]]]]:
    """Body-outline polylines (points x, y, z and radii) of arms, legs and feet, per side (+1 left)."""
    out: dict[str, list[tuple[list[list[float]], list[float]]]] = {
        "arm": [],
        "leg": [],
        "foot": [],
        "hand": [],
    }
    for s in (1.0, -1.0):
        if arms == "down":
            out["arm"].append(
                (
                    [[s * 186, 30, 1404], [s * 222, 62, 1260], [s * 232, 70, 1110], [s * 238, 80, 870]],
                    [46, 43, 38, 27],
                )
            )
            out["hand"].append(([[s * 240, 82, 860], [s * 240, 75, 700]], [24, 20]))
        else:
            out["arm"].append(
                (
                    [[s * 180, 30, 1410], [s * 168, 45, 1580], [s * 150, 60, 1730], [s * 60, 68, 1870]],
                    [46, 43, 38, 27],
                )
            )
            out["hand"].append(([[s * 50, 68, 1878], [s * 20, 68, 1920]], [24, 20]))
        out["leg"].append(
            (
                [
                    [s * 92, 25, 935],
                    [s * 92, 30, 820],
                    [s * 90, 55, KNEE_Z + 10],
                    [s * 88, 60, 380],
                    [s * 88, 75, ANKLE_Z + 15],
                ],
                [86, 82, 55, 56, 34],
            )
        )
        out["foot"].append(
            (
                [[s * 88, 72, 45], [s * 90, 30, 40], [s * 96, -60, 28], [s * 102, -135, 18]],
                [36, 36, 28, 17],
            )
        )
    return out


def _paint_outline(cv: _Canvas, arms: str) -> None:
    """Body outline as fat, then the inner muscle volume of each part."""
    trunk = _trunk_table()
    head_scalp = (_HEAD_C, _HEAD_SCALP)
    neck = np.array([[1470, 60, 64, 42], [1520, 57, 58, 36], [1560, 56, 56, 32], [1600, 52, 60, 22]], float)
    face = (np.array([0.0, -22.0, 1584.0]), np.array([58.0, 70.0, 60.0]))
    jaw = (np.array([0.0, -34.0, 1546.0]), np.array([54.0, 50.0, 30.0]))
    limbs = _limb_paths(arms)
    shoulders = [(np.array([s * 166, 24.0, 1404.0]), np.array([46.0, 56.0, 44.0])) for s in (1, -1)]
    # fat: the whole outline
    cv.paint(_zprofile(cv, trunk, power=2.3), FAT)
    cv.paint(_zprofile(cv, neck), FAT)
    cv.paint(_ellipsoid(cv, *head_scalp), FAT)
    cv.paint(_ellipsoid(cv, *face), FAT)
    cv.paint(_ellipsoid(cv, *jaw), FAT)
    cv.paint(_capsule(cv, (0, -88, 1630), (0, -103, 1598), 9, 12), FAT)  # nose
    for c, r in shoulders:
        cv.paint(_ellipsoid(cv, c, r), FAT)
    for key in ("arm", "hand", "leg"):
        for pts, rad in limbs[key]:
            for region in _tube(cv, pts, rad):
                cv.paint(region, FAT)
    for pts, rad in limbs["foot"]:
        for region in _tube(cv, pts, rad):
            cv.paint(region, FAT, where=lambda z, y, x: z >= 0.0)
    # muscle (and other deep soft tissue): the outline shrunk by the subcutaneous fat
    cv.paint(_zprofile(cv, trunk, power=2.3, shrink=(16, 18)), MUSCLE, only=[FAT])
    cv.paint(_zprofile(cv, neck, shrink=(8, 8)), MUSCLE, only=[FAT])
    cv.paint(_ellipsoid(cv, _HEAD_C, _HEAD_SCALP - 4), MUSCLE, only=[FAT])
    cv.paint(_ellipsoid(cv, face[0], face[1] - 8), MUSCLE, only=[FAT])
    cv.paint(_ellipsoid(cv, jaw[0], jaw[1] - 8), MUSCLE, only=[FAT])
    for c, r in shoulders:
        cv.paint(_ellipsoid(cv, c, r - 10), MUSCLE, only=[FAT])
    for key, fat_mm in (("arm", 8), ("hand", 5), ("leg", 12), ("foot", 6)):
        for pts, rad in limbs[key]:
            for region in _tube(cv, pts, np.asarray(rad) - fat_mm):
                cv.paint(region, MUSCLE, only=[FAT])


# ---------------------------------------------------------------------- thorax
def _thoracic_cavity(z: np.ndarray, y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Inside the rib cage (inner surface), above the diaphragm."""
    t = _trunk_table()
    a = np.interp(z, t[:, 0], t[:, 1]) - 30.0
    depth = np.interp(z, t[:, 0], t[:, 2])
    yc = np.interp(z, t[:, 0], t[:, 3]) + 4.0
    # the posterior wall (paraspinal muscles, scapulae) is thicker than the anterior one
    b = np.where(y > yc, depth - 46.0, depth - 24.0)
    inside = (x / np.maximum(a, 1)) ** 2 + ((y - yc) / np.maximum(b, 1)) ** 2 <= 1.0
    return inside & (z > _diaphragm_z(x, y))


def _paint_thorax(cv: _Canvas) -> None:
    lungs = {1.0: LUNG_L, -1.0: LUNG_R}
    for s, label in lungs.items():
        table = np.column_stack([_LUNG[:, 0], _LUNG[:, 2], _LUNG[:, 3], _LUNG[:, 4]])
        cx_mid = float(_LUNG[:, 1].mean())
        sl = cv.box((s * cx_mid - 140, -120, 1100), (s * cx_mid + 140, 140, LUNG_APEX_Z + 5))
        if sl is None:
            continue
        z, y, x = cv.grid(sl)
        cx = s * np.interp(z, _LUNG[:, 0], _LUNG[:, 1])
        a = np.maximum(np.interp(z, table[:, 0], table[:, 1]), 1e-3)
        b = np.maximum(np.interp(z, table[:, 0], table[:, 2]), 1e-3)
        yc = np.interp(z, table[:, 0], table[:, 3])
        inside = (np.abs((x - cx) / a) ** 2.4 + np.abs((y - yc) / b) ** 2.4) <= 1.0
        inside &= (z <= LUNG_APEX_Z) & (s * x > 10.0)
        inside &= _thoracic_cavity(z, y, x)
        cv.paint((sl, inside), label, only=[FAT, MUSCLE])
    # mediastinum: everything in the cavity that is not lung is mediastinal fat to start with
    sl = cv.box((-170, -140, 1100), (170, 140, 1500))
    if sl is not None:
        cv.paint((sl, _thoracic_cavity(*cv.grid(sl))), FAT, only=[MUSCLE])
    # central mediastinal band (thymus, great vessels, oesophagus), the heart and its pericardial fat
    cv.paint(
        _zprofile(cv, np.array([[1250, 24, 40, -30], [1380, 26, 60, 0], [1470, 20, 40, 20]], float)),
        FAT,
        only=[LUNG_L, LUNG_R],
    )
    heart_c = np.array([18.0, -32.0, 1300.0])
    heart_axes = _rot(yaw_deg=-35, pitch_deg=-20, roll_deg=25)
    heart_r = np.array([62.0, 48.0, 62.0])

    def above_diaphragm(z: np.ndarray, y: np.ndarray, x: np.ndarray) -> np.ndarray:
        return z > _diaphragm_z(x, y) + 2

    cv.paint(
        _ellipsoid(cv, heart_c, heart_r + 7, heart_axes), FAT, only=[LUNG_L, LUNG_R], where=above_diaphragm
    )
    cv.paint(
        _ellipsoid(cv, heart_c, heart_r, heart_axes), HEART, only=[FAT, LUNG_L, LUNG_R], where=above_diaphragm
    )
    # aorta: ascending, arch, descending beside the spine to the bifurcation at L4; then iliac arteries
    aorta = [
        [8, -35, 1330],
        [10, -20, 1390],
        [5, 10, 1405],
        [18, 30, 1385],
        [22, 20, 1300],
        [18, 10, 1200],
        [8, -8, 1130],
        [5, -12, 1065],
    ]
    for region in _tube(cv, aorta, 17):
        cv.paint(region, FAT, only=[LUNG_L, LUNG_R])
    for region in _tube(cv, aorta, [14, 15, 14, 13, 12.5, 12, 11, 10]):
        cv.paint(region, MUSCLE, only=[FAT, LUNG_L, LUNG_R])
    # oesophagus behind the trachea, then beside the aorta
    for region in _tube(cv, [[0, 22, 1480], [4, 22, 1380], [10, 8, 1280], [22, -10, 1230]], 9):
        cv.paint(region, MUSCLE, only=[FAT, LUNG_L, LUNG_R])
    # spine region: no lung medial to the costovertebral joints
    for name in [f"T{i}" for i in range(1, 13)]:
        lv = _LEVELS[name]
        cv.paint(
            _ellipsoid(cv, (0, lv["y"] + 10, lv["z"]), (lv["w"] + 8, lv["d"] + 20, lv["h"] + 8)),
            MUSCLE,
            only=[FAT, LUNG_L, LUNG_R],
        )
    _paint_airway(cv)


def _paint_airway(cv: _Canvas) -> None:
    """Nasal cavity, pharynx, larynx, trachea and main bronchi (lumen air, soft-tissue wall)."""
    carina: list[float] = [0.0, 18.0, 1372.0]
    trachea: list[list[float]] = [[0, -25, 1540], [0, -12, 1490], [0, 8, 1420], carina]
    right: list[list[float]] = [carina, [-28, 22, 1352], [-50, 25, 1335], [-66, 26, 1318]]
    left: list[list[float]] = [carina, [30, 24, 1350], [55, 28, 1330], [72, 30, 1310]]
    for path, r_lumen in ((trachea, 8.5), (right, 6.5), (left, 6.0)):
        for region in _tube(cv, path, r_lumen + 3):
            cv.paint(region, MUSCLE, only=[FAT, LUNG_L, LUNG_R])
    for path, r_lumen in ((trachea, 8.5), (right, 6.5), (left, 6.0)):
        for region in _tube(cv, path, r_lumen):
            cv.paint(region, AIRWAY, only=[FAT, MUSCLE, LUNG_L, LUNG_R])
    # pharynx and nasal cavity
    for region in _tube(
        cv, [[0, -25, 1540], [0, 2, 1575], [0, 5, 1600], [0, -25, 1612], [0, -70, 1612]], [8, 9, 8, 10, 9]
    ):
        cv.paint(region, AIRWAY, only=[FAT, MUSCLE])
    # maxillary sinuses
    for s in (1, -1):
        cv.paint(_ellipsoid(cv, (s * 26, -50, 1606), (14, 16, 15)), AIRWAY, only=[FAT, MUSCLE])


# ---------------------------------------------------------------------- abdomen and pelvis
def _abdominal_cavity(z: np.ndarray, y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Peritoneal and pelvic cavity: inside the abdominal wall and back muscles, under the diaphragm."""
    t = _trunk_table()
    a = np.interp(z, t[:, 0], t[:, 1]) - 34.0
    b = np.interp(z, t[:, 0], t[:, 2]) - 30.0
    yc = np.interp(z, t[:, 0], t[:, 3])
    # pelvis narrows the cavity below the crest
    pelvic = np.clip((1000.0 - z) / 120.0, 0, 1)
    a = a - 70.0 * pelvic
    b = b - 20.0 * pelvic
    inside = (x / np.maximum(a, 1)) ** 2 + ((y - yc) / np.maximum(b, 1)) ** 2 <= 1.0
    posterior_limit = BACK_Y_MM - 75.0 + 0.25 * np.abs(x)
    return inside & (y < posterior_limit) & (z < _diaphragm_z(x, y) - 6) & (z > 865)


def _smooth_field(shape: tuple[int, ...], sigma_vox: Sequence[float], seed: int) -> np.ndarray:
    """Deterministic smooth random field, unit variance."""
    rng = np.random.default_rng(seed)
    f = ndimage.gaussian_filter(rng.standard_normal(shape).astype(np.float32), sigma_vox, mode="wrap")
    return f / (f.std() + 1e-9)


def _paint_abdomen(cv: _Canvas, spacing_ref: Sequence[float]) -> None:
    sl = cv.box((-180, -130, 860), (180, BACK_Y_MM, 1270))
    if sl is None:
        return

    def cavity(z: np.ndarray, y: np.ndarray, x: np.ndarray) -> np.ndarray:
        return _abdominal_cavity(z, y, x)

    cv.paint((sl, np.ones((1, 1, 1), bool)), FAT, only=[MUSCLE], where=cavity)
    # small bowel and colon: a smooth random pattern of loops in visceral fat (fixed seed: same anatomy
    # whatever the noise seed), bowel gas in the loops' anterior (non-dependent) parts
    z, y, x = cv.grid(sl)
    shape = tuple(s.stop - s.start for s in sl)
    sigma = [max(9.0 / spacing_ref[k], 0.8) for k in range(3)]
    loops = _smooth_field(shape, sigma, 11)
    gas = _smooth_field(shape, [max(6.0 / spacing_ref[k], 0.6) for k in range(3)], 12)
    view = cv.labels[sl]
    in_fat = (view == FAT) & _abdominal_cavity(z, y, x) & (z < 1150)
    bowel = in_fat & (loops > -0.35)
    view[bowel] = BOWEL
    anterior = y < np.interp(z, _TRUNK[:, 0], BACK_Y_MM - _TRUNK[:, 2]) - 10
    view[bowel & (gas > 1.6) & anterior] = GAS
    # colon frame: caecum, ascending, transverse, descending, sigmoid, rectum; gas anteriorly in its lumen
    colon = [
        [-95, -10, 960],
        [-100, 10, 1040],
        [-95, 0, 1120],
        [-50, -60, 1135],
        [30, -60, 1140],
        [95, 10, 1160],
        [105, 25, 1080],
        [95, 10, 990],
        [50, -20, 950],
        [10, 40, 925],
        [0, 62, 895],
        [0, 60, 860],
    ]
    radii = [24, 22, 22, 22, 22, 20, 19, 19, 17, 16, 17, 15]
    for region in _tube(cv, colon, radii):
        cv.paint(
            region,
            BOWEL,
            only=[FAT, BOWEL, GAS],
            where=lambda z, y, x: _abdominal_cavity(z, y, x) | (z < 900),
        )
    for region in _tube(cv, colon[:10], np.asarray(radii[:10]) - 5):
        cv.paint(region, GAS, only=[BOWEL], where=lambda z, y, x: y < 5.0)
    organ_ok = [FAT, BOWEL, GAS]

    def under_diaphragm(z: np.ndarray, y: np.ndarray, x: np.ndarray) -> np.ndarray:
        return z < _diaphragm_z(x, y) - 6

    # liver (right upper quadrant, left lobe across the midline), spleen, stomach, kidneys
    liver = _ellipsoid(cv, (-55, 0, 1185), (105, 92, 88), _rot(yaw_deg=-10, roll_deg=-12))
    cv.paint(
        liver,
        LIVER,
        only=[*organ_ok, MUSCLE],
        where=lambda z, y, x: under_diaphragm(z, y, x) & _abdominal_cavity(z, y, x),
    )
    cv.paint(
        _ellipsoid(cv, (98, 55, 1185), (32, 55, 58), _rot(yaw_deg=35)),
        SPLEEN,
        only=[*organ_ok, MUSCLE],
        where=under_diaphragm,
    )
    stomach_c = np.array([55.0, -18.0, 1185.0])
    stomach = _ellipsoid(cv, stomach_c, (42, 45, 62), _rot(yaw_deg=30, roll_deg=25))
    cv.paint(stomach, BOWEL, only=[*organ_ok], where=under_diaphragm)
    cv.paint(
        stomach, GAS, only=[BOWEL], where=lambda z, y, x: (y < stomach_c[1] - 18) & (z > stomach_c[2] - 10)
    )
    for s, label, zc in ((1, KIDNEY_L, 1150.0), (-1, KIDNEY_R, 1132.0)):
        kidney_axes = _rot(yaw_deg=s * 30, roll_deg=-s * 12)
        # perirenal fat, then the kidney
        cv.paint(
            _ellipsoid(cv, (s * 78, 58, zc), (38, 33, 68), kidney_axes),
            FAT,
            only=[BOWEL, GAS, MUSCLE],
            where=lambda z, y, x: y < BACK_Y_MM - 40.0,
        )
        cv.paint(
            _ellipsoid(cv, (s * 78, 58, zc), (28, 24, 55), kidney_axes),
            label,
            only=[FAT, BOWEL, GAS, MUSCLE, LIVER, SPLEEN],
        )
        # psoas: from T12 beside the vertebral bodies down to the lesser trochanter
        for region in _tube(
            cv,
            [[s * 30, 45, 1190], [s * 48, 30, 1060], [s * 62, 5, 950], [s * 78, -5, 890]],
            [10, 22, 26, 20],
        ):
            cv.paint(region, MUSCLE, only=[FAT, BOWEL, GAS])
    # bladder behind the pubic symphysis
    cv.paint(_ellipsoid(cv, (0, -35, 905), (44, 34, 36)), BLADDER, only=[FAT, BOWEL, GAS, MUSCLE])


# ---------------------------------------------------------------------- head and neuraxis
def _paint_head(cv: _Canvas) -> None:
    def cranial(z: np.ndarray, y: np.ndarray, x: np.ndarray) -> np.ndarray:
        # brain above the skull base; anterior fossa higher (orbits below it)
        return z > _cranial_floor(y, x)

    cv.paint(_ellipsoid(cv, _HEAD_C, _SKULL_IN), BRAIN, where=cranial)
    # eyes (soft tissue) in orbital fat
    for s in (1, -1):
        cv.paint(_ellipsoid(cv, (s * 32, -68, 1613), (17, 22, 16)), FAT, only=[MUSCLE, FAT, BRAIN])
        cv.paint(_ellipsoid(cv, (s * 32, -74, 1613), (11, 11, 11)), MUSCLE, only=[FAT])
    # spinal canal contents from the foramen magnum to L1 (cord and CSF)
    pts = [
        [0, _LEVELS[n]["y"] + _LEVELS[n]["d"] + 3 + _LEVELS[n]["canal"], _LEVELS[n]["z"]]
        for n in ("C1", "C4", "C7", "T4", "T8", "T12", "L1")
    ]
    pts.insert(0, [0, pts[0][1], 1605])
    radii = [_LEVELS[n]["canal"] for n in ("C1", "C1", "C4", "C7", "T4", "T8", "T12", "L1")]
    for region in _tube(cv, pts, radii):
        cv.paint(region, CORD)


# ---------------------------------------------------------------------- skeleton
def _vertebra(cv: _Canvas, name: str) -> _Bone:
    lv = _LEVELS[name]
    site = {"C": "cervical_spine", "T": "thoracic_spine", "L": "lumbar_spine"}[name[0]]
    bone = _Bone(cv, site)
    zc, yb, w, d, h, rc = lv["z"], lv["y"], lv["w"], lv["d"], lv["h"], lv["canal"]
    thick = 6.0 if name[0] != "C" else 5.0
    yc = yb + d + 2.0 + rc  # canal centre
    if name != "C1":
        bone.add(_ellipsoid(cv, (0, yb, zc), (w, d, h), power=6.0))
    else:
        bone.add(_ellipsoid(cv, (0, yb - 2, zc), (9, 6, h)))  # anterior arch
        for s in (1, -1):
            bone.add(_ellipsoid(cv, (s * 17, yc - 4, zc), (9, 11, h)))  # lateral masses
    # neural arch: ring around the canal (pedicles and laminae), spinous and transverse processes
    ro = rc + thick
    sl = cv.box((-ro, yc - ro, zc - 0.85 * h), (ro, yc + ro, zc + 0.85 * h))
    if sl is not None:
        z, y, x = cv.grid(sl)
        r2 = x**2 + (y - yc) ** 2
        bone.add((sl, (r2 <= ro * ro) & (r2 > rc * rc) & (np.abs(z - zc) <= 0.85 * h)))
    if name[0] == "C":
        sp_len, sp_drop, tp_len = (28.0 if name == "C7" else 16.0), 6.0, 14.0
    elif name[0] == "T":
        k = int(name[1:])
        sp_len, sp_drop, tp_len = 26.0, 14.0 if 4 <= k <= 9 else 8.0, 24.0
    else:
        sp_len, sp_drop, tp_len = 26.0, 2.0, 30.0
    top = yc + rc + thick - 2
    if name != "C1":
        bone.add(_capsule(cv, (0, top, zc), (0, top + sp_len, zc - sp_drop), 5.0, 4.5))
    for s in (1, -1):
        bone.add(
            _capsule(
                cv,
                (s * (rc + 2), yc - 2, zc),
                (s * (rc + tp_len), yc + (8 if name[0] == "T" else 0), zc),
                5.0,
                4.0,
            )
        )
    if name == "C2":
        bone.add(_capsule(cv, (0, yb - 1, zc), (0, yb - 1, zc + h + 14), 5.5))  # dens
    return bone


def _paint_spine(cv: _Canvas) -> None:
    for name in _LEVELS:
        _vertebra(cv, name).commit()
    # sacrum: tilted wedge of fused segments from S1 to the apex, and the coccyx
    table = np.array(
        [
            [880, 14, 10, 72],
            [900, 24, 14, 70],
            [930, 38, 18, 62],
            [960, 48, 22, 48],
            [985, 55, 24, 36],
            [_S1_TOP_Z, 52, 22, 30],
        ],
        float,
    )
    bone = _Bone(cv, "sacrum")
    bone.add(_zprofile(cv, table, power=2.6))
    for s in (1, -1):  # alae and the sacroiliac joint surfaces
        bone.add(_ellipsoid(cv, (s * 44, 48, 975), (20, 22, 24)))
    bone.commit()
    cocc = _Bone(cv, "sacrum")  # the coccyx is counted with the sacrum
    cocc.add(_capsule(cv, (0, 74, 878), (0, 66, 855), 7, 5))
    cocc.commit()


def _paint_pelvis(cv: _Canvas) -> float:
    """Os coxae (ilium, acetabulum, pubis, ischium); returns the z of the crest top."""
    crest_r = 8.0
    top = -np.inf
    for s in (1, -1):
        bone = _Bone(cv, "pelvis_os_coxae")
        # iliac wing: lines from the crest down to the sacroiliac joint and acetabulum roof
        u = np.linspace(0.0, 1.0, 44)
        p0 = np.array([s * 48, 86, 990.0])
        p1 = np.array([s * 150, 50, CREST_TOP_Z + 45.0])
        p2 = np.array([s * 118, -70, 1000.0])
        crest = ((1 - u) ** 2)[:, None] * p0 + (2 * u * (1 - u))[:, None] * p1 + (u**2)[:, None] * p2
        # force the highest crest point (centre + radius) to CREST_TOP_Z
        crest[:, 2] += CREST_TOP_Z - crest_r - crest[:, 2].max()
        top = max(top, float(crest[:, 2].max() + crest_r))
        q0 = np.array([s * 46, 60, 950.0])
        q1 = np.array([s * 95, -20, 945.0])
        low = (1 - u)[:, None] * q0 + u[:, None] * q1
        bone.add(_tube(cv, crest, crest_r))
        for i in range(len(u)):
            bone.add(_capsule(cv, crest[i], low[i], 5.0, 9.0))
        # acetabulum: cup over the femoral head, open laterally and inferiorly
        head = np.array([s * _HIP_X, _HIP_Y, FEMORAL_HEAD_Z])
        cup = _ellipsoid(cv, head, (40, 40, 40))
        if cup is not None:
            sl, mo = cup
            z, y, x = cv.grid(sl)
            inner_mask = (x - head[0]) ** 2 + (y - head[1]) ** 2 + (z - head[2]) ** 2 <= 28.5**2
            keep = (s * (x - head[0]) < 12) | (z - head[2] > 8)
            bone.add((sl, mo & ~inner_mask & keep & (z - head[2] > -22)))
        # pubis to the symphysis, inferior ramus, ischium to the tuberosity
        bone.add(_capsule(cv, (s * 75, -28, 915), (s * 14, -62, 893), 13, 10))
        bone.add(_capsule(cv, (s * 15, -58, 876), (s * 62, 0, 858), 9, 9))
        bone.add(_capsule(cv, (s * 88, 25, 915), (s * 62, 38, 852), 15, 13))
        bone.add(_ellipsoid(cv, (s * 62, 35, 852), (16, 18, 12)))
        bone.commit()
    return top


def _rib_path(k: int, s: float) -> tuple[np.ndarray, float]:
    """Polyline (x, y, z) of rib ``k`` (1..12) on side ``s`` and its radius."""
    lv = _LEVELS[f"T{k}"]
    z0, yb, w = lv["z"] + 4.0, lv["y"], lv["w"]
    t = _trunk_table()
    zmid = z0 - 30
    a = float(np.interp(zmid, t[:, 0], t[:, 1])) - 22.0
    depth = float(np.interp(zmid, t[:, 0], t[:, 2]))
    b_post, b_ant = depth - 38.0, depth - 17.0
    yc = float(np.interp(zmid, t[:, 0], t[:, 3])) + 4.0
    if k == 1:
        a, b_post, b_ant, yc = 64.0, 58.0, 50.0, 14.0
    elif k == 2:
        a, b_post, b_ant = a - 18.0, b_post - 6.0, b_ant - 14.0
    end_deg = {
        1: 165,
        2: 158,
        3: 155,
        4: 152,
        5: 150,
        6: 148,
        7: 146,
        8: 138,
        9: 128,
        10: 118,
        11: 100,
        12: 78,
    }[k]
    drop = {1: 30, 2: 50, 3: 65, 4: 75, 5: 82, 6: 88, 7: 92, 8: 85, 9: 75, 10: 62, 11: 42, 12: 28}[k]
    head = np.array([s * (w + 3), yb + 6, z0])
    tubercle = np.array([s * (w + 24), yb + 30, z0 + 2])
    # start angle: where the ellipse passes the tubercle's x, on the posterior side
    start = math.degrees(math.asin(min(abs(tubercle[0]) / a, 0.95)))
    ang = np.radians(np.linspace(start + 8, end_deg, 16))
    frac = (ang - ang[0]) / (ang[-1] - ang[0])
    b = np.where(np.cos(ang) > 0, b_post, b_ant)
    pts = np.column_stack([s * a * np.sin(ang), yc + b * np.cos(ang), z0 - drop * frac**1.2])
    radius = 6.0 if k in (1, 12) else 7.5
    return np.vstack([head, tubercle, pts]), radius


def _paint_ribs_and_sternum(cv: _Canvas) -> None:
    for k in range(1, 13):
        for s in (1.0, -1.0):
            path, radius = _rib_path(k, s)
            _Bone(cv, "ribs").add(_tube(cv, path, radius)).commit()
    # sternum: manubrium, body, xiphoid; on the anterior chest wall
    t = _trunk_table()

    def front(z: float) -> float:
        return float(np.interp(z, t[:, 0], t[:, 3]) - np.interp(z, t[:, 0], t[:, 2])) + 26.0

    bone = _Bone(cv, "sternum")
    bone.add(_ellipsoid(cv, (0, front(1405), 1405), (26, 9, 26)))
    bone.add(_capsule(cv, (0, front(1375), 1375), (0, front(1265), 1265), 12.0, 11.0))
    bone.add(_ellipsoid(cv, (0, front(1370), 1320), (17, 8, 55)))
    bone.add(_capsule(cv, (0, front(1255), 1255), (0, front(1225) + 4, 1225), 7.0, 4.0))
    bone.commit()
    # costal cartilages: soft tissue joining the rib ends to the sternum (not bone)
    for k in range(1, 8):
        for s in (1.0, -1.0):
            path, _ = _rib_path(k, s)
            end = path[-1]
            target = np.array([s * 14.0, front(1405 - 22 * (k - 1)), 1405 - 22 * (k - 1)])
            for region in _tube(cv, [end, target], 5.5):
                cv.paint(region, MUSCLE, only=[FAT, LUNG_L, LUNG_R])


def _paint_shoulder_girdle(cv: _Canvas, arms: str) -> None:
    t = _trunk_table()
    front_1420 = float(np.interp(1420, t[:, 0], t[:, 3]) - np.interp(1420, t[:, 0], t[:, 2]))
    for s in (1.0, -1.0):
        glenoid = np.array([s * 152, 30, 1420.0])
        # clavicle: S-shaped, sternal end to the acromion
        clav = [
            [s * 22, front_1420 + 28, 1418],
            [s * 70, front_1420 + 20, 1432],
            [s * 120, front_1420 + 35, 1440],
            [s * 160, 22, 1450],
        ]
        _Bone(cv, "clavicles").add(_tube(cv, clav, 8.0)).commit()
        # scapula: plate on the posterior ribcage (medial border, spine, lateral border, glenoid)
        bone = _Bone(cv, "scapulae")
        back_y = BACK_Y_MM - 34.0
        corners = [(s * 80, 1450.0), (s * 92, 1310.0), (s * 140, 1410.0)]
        sl = cv.box(
            (min(s * 80, s * 145) - 5, back_y - 30, 1300), (max(s * 80, s * 145) + 5, back_y + 12, 1460)
        )
        if sl is not None:
            z, y, x = cv.grid(sl)
            (ax, az), (bx, bz), (cx, cz) = corners
            det = (bz - cz) * (ax - cx) + (cx - bx) * (az - cz)
            l1 = ((bz - cz) * (x - cx) + (cx - bx) * (z - cz)) / det
            l2 = ((cz - az) * (x - cx) + (ax - cx) * (z - cz)) / det
            l3 = 1 - l1 - l2
            # the plate curves forward laterally, following the ribcage
            ys = back_y - 0.25 * (np.abs(x) - 80.0)
            bone.add((sl, (l1 >= 0) & (l2 >= 0) & (l3 >= 0) & (np.abs(y - ys) <= 5.5)))
        bone.add(
            _tube(
                cv, [[s * 82, back_y + 3, 1428], [s * 150, back_y - 10, 1440], [s * 165, 20, 1452]], [7, 8, 8]
            )
        )
        path = np.array([[s * 92, back_y - 2, 1312], [s * 138, back_y - 25, 1395], glenoid], dtype=float)
        bone.add(_tube(cv, path, [8, 9, 10]))
        bone.add(_ellipsoid(cv, glenoid, (12, 16, 18)))
        bone.commit()


def _paint_limbs(cv: _Canvas, arms: str) -> None:
    for s in (1.0, -1.0):
        # humerus: head at the glenoid, shaft to the epicondyles; upper and lower halves are separate sites
        if arms == "down":
            head = np.array([s * 170, 30, 1418.0])
            elbow = np.array([s * 232, 70, 1110.0])
            wrist = np.array([s * 238, 80, 872.0])
            hand_end = np.array([s * 240, 76, 720.0])
        else:
            head = np.array([s * 170, 30, 1425.0])
            elbow = np.array([s * 150, 60, 1728.0])
            wrist = np.array([s * 62, 68, 1866.0])
            hand_end = np.array([s * 22, 68, 1915.0])
        axis = elbow - head
        mid = head + 0.5 * axis

        def lower_half(
            z: np.ndarray, y: np.ndarray, x: np.ndarray, mid: np.ndarray = mid, axis: np.ndarray = axis
        ) -> np.ndarray:
            return (x - mid[0]) * axis[0] + (y - mid[1]) * axis[1] + (z - mid[2]) * axis[2] > 0

        unit = axis / np.linalg.norm(axis)
        bone = _Bone(cv, "humeri_upper_half")
        bone.add(_ellipsoid(cv, head, (24, 24, 24)))
        bone.add(_capsule(cv, head + 14 * unit, elbow - 18 * unit, 13.0, 11.0))
        perp = np.cross(unit, [0, 1, 0])
        perp /= np.linalg.norm(perp)
        bone.add(_capsule(cv, elbow - 22 * perp - 12 * unit, elbow + 22 * perp - 12 * unit, 11.0))
        bone.commit(split=lower_half, split_site="humeri_lower_half")
        # forearm: radius and ulna
        fa = _Bone(cv, "forearms")
        fore = wrist - elbow
        fu = fore / np.linalg.norm(fore)
        fa.add(_capsule(cv, elbow + 8 * fu + 11 * perp, wrist + 10 * perp, 8.0, 9.5))
        fa.add(_capsule(cv, elbow + 4 * fu - 11 * perp, wrist - 10 * perp, 9.5, 6.5))
        fa.commit()
        # hand: carpals and metacarpals
        hb = _Bone(cv, "hands")
        hu = (hand_end - wrist) / np.linalg.norm(hand_end - wrist)
        hb.add(_ellipsoid(cv, wrist + 18 * hu, (12, 18, 12)))
        for off in (-20.0, -8.0, 4.0, 16.0):
            side = np.array([0.0, 1.0, 0.0]) * off if arms == "down" else perp * off
            hb.add(_capsule(cv, wrist + 32 * hu + side, wrist + 95 * hu + side * 1.1, 4.5, 3.5))
        hb.commit()
        # femur: head in the acetabulum, neck, greater trochanter, shaft, condyles
        fhead = np.array([s * _HIP_X, _HIP_Y, FEMORAL_HEAD_Z])
        troch = np.array([s * 132, 18, 900.0])
        condyles = np.array([s * 88, 55, KNEE_Z + 22])
        femur_top = FEMORAL_HEAD_Z + 24.0
        femur_bottom = KNEE_Z + 2.0
        femur_mid = 0.5 * (femur_top + femur_bottom)
        fb = _Bone(cv, "femora_upper_half")
        fb.add(_ellipsoid(cv, fhead, (24, 24, 24)))
        fb.add(_capsule(cv, fhead, troch, 16.0, 18.0))
        fb.add(_ellipsoid(cv, troch + np.array([s * 4, 4, 8]), (20, 22, 28)))
        fb.add(_capsule(cv, troch + np.array([-s * 8, 0, -20]), condyles + np.array([0, 0, 30]), 16.0, 15.0))
        fb.add(_ellipsoid(cv, condyles, (42, 30, 24)))

        def femur_lower(z: np.ndarray, y: np.ndarray, x: np.ndarray, m: float = femur_mid) -> np.ndarray:
            return np.asarray(z < m)

        fb.commit(split=femur_lower, split_site="femora_lower_half")
        # patella
        _Bone(cv, "patellae").add(_ellipsoid(cv, (s * 90, 8, KNEE_Z + 30), (22, 10, 24))).commit()
        # tibia and fibula
        tib = _Bone(cv, "tibiae_fibulae")
        tib.add(_ellipsoid(cv, (s * 88, 50, KNEE_Z - 16), (40, 30, 16)))
        # shaft close under the anterior skin of the shin
        tib.add(
            _tube(
                cv, [(s * 86, 46, KNEE_Z - 28), (s * 85, 36, 300.0), (s * 84, 64, ANKLE_Z + 30)], [17, 15, 13]
            )
        )
        tib.add(_ellipsoid(cv, (s * 84, 72, ANKLE_Z + 14), (22, 18, 14)))
        tib.add(_capsule(cv, (s * 68, 72, ANKLE_Z + 10), (s * 68, 72, ANKLE_Z - 14), 7.0))  # medial malleolus
        tib.add(_capsule(cv, (s * 118, 62, KNEE_Z - 36), (s * 112, 84, ANKLE_Z + 10), 8.0, 6.5))
        tib.add(
            _capsule(cv, (s * 112, 84, ANKLE_Z + 10), (s * 112, 84, ANKLE_Z - 24), 7.5)
        )  # lateral malleolus
        tib.commit()
        # foot: talus, calcaneus, midfoot and metatarsals (the foot points anteriorly, -y)
        ft = _Bone(cv, "feet")
        ft.add(_ellipsoid(cv, (s * 88, 66, ANKLE_Z - 18), (18, 24, 16)))
        ft.add(_ellipsoid(cv, (s * 88, 86, 34), (17, 34, 22)))
        ft.add(_ellipsoid(cv, (s * 90, 26, 42), (26, 22, 18)))
        for i, off in enumerate((-22.0, -11.0, 0.0, 11.0, 21.0)):
            ft.add(
                _capsule(cv, (s * (90 + off), 6, 38), (s * (94 + off * 1.2), -100, 20 - 0.5 * i), 5.0, 4.0)
            )
        ft.commit(keep=lambda z, y, x: z >= 6.0)


def _cranial_floor(y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Height (mm) of the floor of the cranial cavity.

    Anterior fossa (over the orbits) highest; middle fossae (temporal lobes) dipping laterally beside the
    sella and clivus; posterior fossa (cerebellum) lowest, around the foramen magnum.
    """
    r = y - _HEAD_C[1]
    base = np.interp(r, [-120.0, -42.0, -28.0, 0.0, 120.0], [1630.0, 1630.0, 1612.0, 1600.0, 1600.0])
    lateral = np.clip((np.abs(x) - 18.0) / 30.0, 0.0, 1.0)
    middle = np.interp(r, [-120.0, -40.0, -30.0, -8.0, 5.0, 120.0], [0.0, 0.0, 1.0, 1.0, 0.5, 0.5])
    return base - 16.0 * lateral * middle


def _paint_skull(cv: _Canvas) -> None:
    bone = _Bone(cv, "cranium")
    outer = _ellipsoid(cv, _HEAD_C, _SKULL_OUT)
    if outer is not None:
        sl, mo = outer
        z, y, x = cv.grid(sl)
        inner = (
            (x - _HEAD_C[0]) ** 2 / _SKULL_IN[0] ** 2
            + (y - _HEAD_C[1]) ** 2 / _SKULL_IN[1] ** 2
            + (z - _HEAD_C[2]) ** 2 / _SKULL_IN[2] ** 2
        ) <= 1.0
        floor = _cranial_floor(y, x)
        cavity = inner & (z > floor)
        # vault and a 12 mm thick cranial base under the fossae, with the foramen magnum
        skull = mo & ~cavity & (z > floor - np.where(floor > 1625.0, 7.0, 12.0))
        foramen = (x**2 + (y - _HEAD_C[1] - 24.0) ** 2 <= 15.0**2) & (z < floor + 1.0)
        # the face is open below the orbital roofs (orbits, nose, maxilla are drawn separately)
        face_open = (y - _HEAD_C[1] < -45.0) & (z < 1616.0)
        bone.add((sl, skull & ~foramen & ~face_open))
    # maxilla with the hard palate, zygomatic arches, lateral orbital rims
    bone.add(_ellipsoid(cv, (0, -50, 1592), (42, 28, 20)))
    for s in (1, -1):
        bone.add(_tube(cv, [[s * 40, -62, 1612], [s * 62, -35, 1608], [s * 66, 5, 1602]], [8, 6, 6]))
        bone.add(_tube(cv, [[s * 42, -76, 1640], [s * 50, -66, 1612]], 6))
    # maxillary sinuses and the nasal cavity are air inside the maxilla, walled by its cortex
    sinuses = [_ellipsoid(cv, (s * 22, -50, 1596), (12, 14, 11)) for s in (1, -1)]
    sinuses.append(_ellipsoid(cv, (0, _HEAD_C[1] - 30, 1602), (13, 12, 8)))  # sphenoid sinus
    nasal = _ellipsoid(cv, (0, -50, 1602), (8, 32, 17))
    bone.sub(*sinuses, nasal)
    bone.commit()
    for region in (*sinuses, nasal):
        cv.paint(region, AIRWAY, only=[FAT, MUSCLE, BRAIN])
    # mandible: U from condyle to condyle (temporomandibular joints), rami, body and chin
    mand = [
        [-50, 14, 1600],
        [-48, 0, 1546],
        [-36, -45, 1532],
        [0, -62, 1530],
        [36, -45, 1532],
        [48, 0, 1546],
        [50, 14, 1600],
    ]
    _Bone(cv, "mandible").add(_tube(cv, mand, [7, 9, 9, 10, 9, 9, 7])).commit()


def _absorb_fragments(labels: np.ndarray, min_voxels: int = 12) -> None:
    """Give tiny pieces of a bone, cut off where another bone was drawn over it, to their neighbour.

    A fragment (6-connected, fewer than ``min_voxels``) takes the most common bone label around it, or
    becomes muscle when no other bone touches it.
    """
    site_index = np.where(labels >= lb.CORTICAL_OFFSET, labels % 100 + 1, 0).astype(np.int32)
    six = ndimage.generate_binary_structure(3, 1)
    for i, box in enumerate(ndimage.find_objects(site_index)):
        if box is None:
            continue
        box = tuple(slice(max(s.start - 1, 0), s.stop + 1) for s in box)
        own = site_index[box] == i + 1
        comp, n = ndimage.label(own, structure=six)
        if n <= 1:
            continue
        sizes = np.bincount(comp.ravel())
        view = labels[box]
        for c in np.nonzero(sizes < min_voxels)[0]:
            if c == 0:
                continue
            piece = comp == c
            ring = ndimage.binary_dilation(piece, structure=six) & ~piece
            around = view[ring]
            around = around[(around >= lb.CORTICAL_OFFSET) & (around % 100 != i)]
            view[piece] = np.bincount(around).argmax() if around.size else MUSCLE


def _paint_skin(cv: _Canvas) -> None:
    """Outer voxel layer of the soft tissue (in-plane 4-neighbourhood) becomes skin."""
    body = cv.labels != 0
    struct = np.zeros((1, 3, 3), bool)
    struct[0, 1, :] = struct[0, :, 1] = True
    surface = body & ~ndimage.binary_erosion(body, structure=struct, border_value=1)
    soft = (cv.labels == FAT) | (cv.labels == MUSCLE)
    cv.labels[surface & soft] = SKIN


def _paint_couch(hu: np.ndarray, y: np.ndarray, x: np.ndarray, gap_mm: float = 8.0) -> np.ndarray:
    """A CT couch top under the patient: carbon-fibre shells (~250 HU) around a foam core (-900 HU).

    Returns the mask of couch voxels (one axial slice, broadcast in z).
    """
    top = BACK_Y_MM + gap_mm
    half_w = 235.0
    thick = 55.0
    yy = y[:, None]
    xx = x[None, :]
    # curved underside: thickness falls off towards the edges
    depth = thick * np.sqrt(np.clip(1.0 - (xx / half_w) ** 2, 0, None))
    inside = (yy >= top) & (yy <= top + np.maximum(depth, 8.0)) & (np.abs(xx) <= half_w)
    core = ndimage.binary_erosion(inside, iterations=1)
    layer = np.where(core, -900, 250).astype(np.int16)
    hu[:, inside] = layer[inside]
    return inside


# ====================================================================== public API
def _inner_scale(scale: float) -> float:
    """Scale of the anatomy inside the subcutaneous fat for a body scale (1/3 of any growth above 1)."""
    return scale if scale <= 1.0 else 1.0 + (scale - 1.0) / 3.0


def _add_fat(
    cv: _Canvas,
    y_mm: np.ndarray,
    extra_x_mm: float,
    extra_y_mm: float,
    spacing_mm: Sequence[float],
) -> None:
    """Grow the body outline by subcutaneous fat, ``extra_x_mm`` at the flanks and ``extra_y_mm`` in front.

    The layer is thickest over the trunk and thighs and thin over the head, hands and feet; it does not
    grow through the back, which rests on the couch plane.
    """
    if extra_x_mm <= 0 and extra_y_mm <= 0:
        return
    body = cv.labels != 0
    _, sy, sx = spacing_mm
    sampling = (sy / max(extra_y_mm, 1e-6), sx / max(extra_x_mm, 1e-6))
    weight = np.interp(cv.za, [0, 400, 700, 1450, 1550, 1750], [0.15, 0.5, 1.0, 1.0, 0.35, 0.2])
    front = (y_mm < BACK_Y_MM)[:, None]
    for k in range(body.shape[0]):
        if not body[k].any():
            continue
        # in-plane anisotropic distance from the body, in units of the wanted thickness
        dist = ndimage.distance_transform_edt(~body[k], sampling=sampling)
        cv.labels[k][(dist <= weight[k]) & ~body[k] & front] = FAT


def _check_positive(name: str, value: float) -> float:
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        raise InputError(f"{name} must be a positive number, got {value}")
    return value


def make_phantom(
    *,
    spacing_mm: Sequence[float] = (5.0, 3.5, 3.5),
    height_mm: float = 1750.0,
    lateral_scale: float = 1.0,
    ap_scale: float = 1.0,
    arms: str = "down",
    couch: bool = False,
    couch_gap_mm: float = 8.0,
    z_range_mm: tuple[float, float] | None = None,
    fov_mm: float | None = None,
    noise_hu: float = 10.0,
    seed: int = 0,
) -> Phantom:
    """Build the synthetic adult whole-body CT and its ground truth.

    Parameters
    ----------
    spacing_mm
        Voxel size ``(slice, row, column)`` = (z, y, x) in mm.
    height_mm
        Stature, vertex to soles (mm); the anatomy scales along z with it.
    lateral_scale, ap_scale
        Scale of the body left-right and anterior-posterior (1 = reference adult, 0.8 a thin, 1.3 a thick
        patient); the back stays on the couch plane.
    arms
        ``"down"`` (at the sides) or ``"up"`` (raised beside and above the head).
    couch
        Add a CT couch top (carbon-fibre shells, foam core) under the patient.
    couch_gap_mm
        Air gap (mm) between the patient's back and the couch top; 0: the patient lies on it, as on a real
        CT (the body outline must then be cut from the couch, not separated by air).
    z_range_mm
        ``(zmin, zmax)`` of the scanned range (mm); default: the whole patient plus a margin.
    fov_mm
        Diameter of the reconstruction circle (mm); the image is the square that encloses it, centred on
        the trunk, and pixels outside the circle are padding (-1024 HU, label 0).
    noise_hu
        Standard deviation of the Gaussian noise added inside the body and couch (HU); air outside stays
        noise-free.
    seed
        Seed of the noise; the anatomy is the same for every seed.

    Returns
    -------
    Phantom
        CT (int16 HU), labels, landmarks and vertebral levels; the same arguments give bitwise the same
        result.

    Notes
    -----
    A scale below 1 shrinks the whole anatomy. A scale above 1 grows the anatomy by a third of the excess
    and adds the rest as subcutaneous fat (thickest over trunk and thighs, none through the back), as in
    an obese patient; the landmarks and the marrow split do not change. The
    cancellous interior of a bone is the bone eroded by one voxel: at coarse grids (pixels above ~5 mm)
    thin bones such as ribs and clavicles keep only their cortical shell. Every bone site has an interior
    at the default spacing.
    """
    spacing = np.broadcast_to(np.asarray(spacing_mm, dtype=float), (3,)).copy()
    for name, v in zip(("spacing_mm[z]", "spacing_mm[y]", "spacing_mm[x]"), spacing):
        _check_positive(name, v)
    height = _check_positive("height_mm", height_mm)
    lat = _check_positive("lateral_scale", lateral_scale)
    ap = _check_positive("ap_scale", ap_scale)
    if arms not in ("down", "up"):
        raise InputError(f"arms must be 'down' or 'up', got {arms!r}")
    if noise_hu < 0:
        raise InputError(f"noise_hu must not be negative, got {noise_hu}")
    hs = height / REFERENCE_HEIGHT_MM
    sz, sy, sx = spacing

    # ---- the grid (real mm)
    top_ref = 1950.0 if arms == "up" else VERTEX_Z
    if z_range_mm is None:
        z_lo, z_hi = -1.0 * sz, top_ref * hs + sz
    else:
        z_lo, z_hi = float(z_range_mm[0]), float(z_range_mm[1])
        if not z_hi > z_lo:
            raise InputError(f"z_range_mm must be (zmin, zmax) with zmax > zmin, got {z_range_mm}")
    # slice centres on the lattice (k + 1/2) * sz so that z = 0 (soles) is a voxel face
    k0 = math.ceil(z_lo / sz - 0.5)
    k1 = math.floor(z_hi / sz - 0.5)
    if k1 < k0:
        raise InputError(f"z_range_mm {z_range_mm} holds no slice at {sz} mm spacing")
    z = (np.arange(k0, k1 + 1) + 0.5) * sz
    iso_y = BACK_Y_MM - 115.0 * ap  # trunk centre: the reconstruction centre
    if fov_mm is None:
        # a square reconstruction field centred on the trunk, as a scanner makes it, holding the whole
        # patient (and the couch) with a margin
        half_x = (290.0 if arms == "down" else 250.0) * lat
        half_y = max(165.0 * ap, 115.0 * ap + (85.0 if couch else 10.0)) + 15.0
        half = max(half_x, half_y)
        nx = 2 * math.ceil(half / sx) + 1
        ny = 2 * math.ceil(half / sy) + 1
        x = (np.arange(nx) - nx // 2) * sx
        y = iso_y + (np.arange(ny) - ny // 2) * sy
    else:
        fov = _check_positive("fov_mm", fov_mm)
        nx = max(round(fov / sx), 1)
        ny = max(round(fov / sy), 1)
        x = (np.arange(nx) - (nx - 1) / 2) * sx
        y = iso_y + (np.arange(ny) - (ny - 1) / 2) * sy

    # anatomical (reference-frame) coordinates of the voxel centres
    # a thick patient is mostly a fatter one: the anatomy grows by a third of the extra scale and the
    # rest is subcutaneous fat added around the outline (a thin one is scaled as a whole)
    lat_in, ap_in = _inner_scale(lat), _inner_scale(ap)
    za = z / hs
    ya = BACK_Y_MM - (BACK_Y_MM - y) / ap_in
    xa = x / lat_in
    cv = _Canvas(za, ya, xa)
    spacing_ref = (sz / hs, sy / ap_in, sx / lat_in)

    _paint_outline(cv, arms)
    _paint_thorax(cv)
    _paint_abdomen(cv, spacing_ref)
    _paint_head(cv)
    _paint_spine(cv)
    crest_top = _paint_pelvis(cv)
    _paint_ribs_and_sternum(cv)
    _paint_shoulder_girdle(cv, arms)
    _paint_limbs(cv, arms)
    _paint_skull(cv)
    _absorb_fragments(cv.labels)
    _add_fat(cv, y, (lat - lat_in) * 160.0, (ap - ap_in) * 210.0, (sz, sy, sx))
    _paint_skin(cv)
    labels = cv.labels

    # ---- HU
    lut = np.full(max(NOMINAL_HU) + 1, AIR_HU, dtype=np.float32)
    for value, hu_value in NOMINAL_HU.items():
        lut[value] = hu_value
    hu = lut[labels]
    if couch:
        if couch_gap_mm < 0:
            raise InputError(f"couch_gap_mm must not be negative, got {couch_gap_mm}")
        couch_mask = _paint_couch(hu, y, x, gap_mm=float(couch_gap_mm))
    else:
        couch_mask = np.zeros(labels.shape[1:], bool)
    if noise_hu > 0:
        rng = np.random.default_rng(seed)
        noise = rng.standard_normal(labels.shape, dtype=np.float32) * np.float32(noise_hu)
        solid = (labels != 0) | couch_mask[None, :, :]
        hu += np.where(solid, noise, np.float32(0))
    hu_i16 = np.clip(np.rint(hu), -1024, 3071).astype(np.int16)
    if fov_mm is not None:
        r = float(fov_mm) / 2
        outside = (x[None, :] ** 2 + (y[:, None] - iso_y) ** 2) > r * r
        hu_i16[:, outside] = PADDING_HU
        labels[:, outside] = 0

    geometry = Geometry.from_spacing(
        labels.shape,
        (sz, sy, sx),
        origin_mm=(float(x[0]), float(y[0]), float(z[0])),
        frame_of_reference_uid=None,
    )
    ct = CTVolume(
        geometry,
        hu_i16,
        metadata={
            "PatientName": "HBIVIEW^PHANTOM",
            "PatientID": "HBIVIEW-0001",
            "PatientPosition": "HFS",
            "Modality": "CT",
            "StudyDescription": "hbiview synthetic whole-body phantom",
            "SeriesDescription": f"phantom arms={arms} couch={couch}",
        },
    )

    # ---- ground-truth positions (real mm)
    lv = _LEVELS
    marks = {
        "vertex": VERTEX_Z,
        "skull_base": C1_Z,
        "lung_apex": LUNG_APEX_Z,
        "lung_base": DOME_R_Z,
        "iliac_crest": crest_top,
        "femoral_heads": FEMORAL_HEAD_Z,
        "knees": KNEE_Z,
        "ankles": ANKLE_Z,
        "soles": 0.0,
    }
    zmin_scan, zmax_scan = z[0] - sz / 2, z[-1] + sz / 2
    landmarks = {k: float(v * hs) for k, v in marks.items() if zmin_scan <= v * hs <= zmax_scan}
    verts = {
        name: lv[name]["z"]
        for name in [f"C{i}" for i in range(1, 8)]
        + [f"T{i}" for i in range(1, 13)]
        + [f"L{i}" for i in range(1, 6)]
    }
    verts["S1"] = _S1_CENTRE_Z
    vertebrae = {k: float(v * hs) for k, v in verts.items() if zmin_scan <= v * hs <= zmax_scan}
    return Phantom(ct=ct, labels=labels, landmarks_mm=landmarks, vertebrae_mm=vertebrae)


# ---------------------------------------------------------------------- test boxes
def _box_grid(
    size_mm: Sequence[float], spacing_mm: float
) -> tuple[Geometry, np.ndarray, np.ndarray, np.ndarray]:
    """Grid holding a box centred on the origin with voxel faces on the box faces, plus an air margin."""
    size = np.asarray(size_mm, dtype=float)
    if size.shape != (3,):
        raise InputError(f"size_mm must be three numbers (x, y, z) in mm, got {size_mm}")
    for name, v in zip(("size_mm x", "size_mm y", "size_mm z"), size):
        _check_positive(name, v)
    sp = _check_positive("spacing_mm", spacing_mm)
    n_box = size / sp
    if np.any(np.abs(n_box - np.round(n_box)) > 1e-6):
        raise InputError(
            f"size_mm {tuple(size)} must be whole voxels of spacing_mm {sp} (box faces on voxel faces)"
        )
    n_box = np.round(n_box).astype(int)
    margin = math.ceil(20.0 / sp) + 2
    n = n_box + 2 * margin  # (x, y, z)
    # voxel faces at -size/2 + k*sp: centres at -size/2 - margin*sp + (i + 1/2)*sp
    origin = -size / 2 - margin * sp + sp / 2
    geometry = Geometry.from_spacing((n[2], n[1], n[0]), (sp, sp, sp), origin_mm=tuple(origin.tolist()))
    z, y, x = geometry.axis_coordinates_mm()
    return geometry, z, y, x


def water_phantom(size_mm: Sequence[float] = (400, 400, 400), spacing_mm: float = 2.5) -> CTVolume:
    """A water box (0 HU) centred on the origin in air (-1000 HU).

    Parameters
    ----------
    size_mm
        Box size ``(x left-right, y anterior-posterior, z superior-inferior)`` in mm; each must be a whole
        number of voxels.
    spacing_mm
        Isotropic voxel size (mm). The box faces coincide with voxel faces; the air margin is 20 mm plus
        two voxels on every side. A beam from the front enters through the anterior face, y = -size_y/2.

    Returns
    -------
    CTVolume
        int16 HU, noise-free.
    """
    geometry, z, y, x = _box_grid(size_mm, spacing_mm)
    half = np.asarray(size_mm, float) / 2
    inside = (
        (np.abs(z)[:, None, None] < half[2])
        & (np.abs(y)[None, :, None] < half[1])
        & (np.abs(x)[None, None, :] < half[0])
    )
    hu = np.where(inside, 0, AIR_HU).astype(np.int16)
    meta = {
        "PatientName": "HBIVIEW^WATER",
        "PatientID": "HBIVIEW-WATER",
        "PatientPosition": "HFS",
        "Modality": "CT",
        "SeriesDescription": f"water box {tuple(float(v) for v in size_mm)} mm",
    }
    return CTVolume(geometry, hu, metadata=meta)


def lung_slab_phantom(
    size_mm: Sequence[float] = (400, 400, 400),
    spacing_mm: float = 2.5,
    slab_depth_mm: float = 50.0,
    slab_thickness_mm: float = 100.0,
    slab_density: float = 0.25,
) -> CTVolume:
    """A water box with a full-width slab of lower (or higher) density at a given depth.

    Parameters
    ----------
    size_mm, spacing_mm
        As :func:`water_phantom`.
    slab_depth_mm
        Depth (mm) of the slab's anterior face below the anterior surface of the box.
    slab_thickness_mm
        Thickness (mm) of the slab along y; it spans the whole box in x and z.
    slab_density
        Electron density relative to water; the slab's HU is chosen with
        :func:`hbiview.density.density_to_hu` so that hbiview's default table gives this density back.

    Returns
    -------
    CTVolume
        int16 HU, noise-free.
    """
    from hbiview.density import density_to_hu, hu_to_density

    rho = float(slab_density)
    if not math.isfinite(rho) or rho <= 0 or rho > 3:
        raise InputError(f"slab_density must be in (0, 3] (relative electron density), got {slab_density}")
    depth = float(slab_depth_mm)
    thick = _check_positive("slab_thickness_mm", slab_thickness_mm)
    if not math.isfinite(depth) or depth < 0 or depth + thick > float(size_mm[1]) + 1e-9:
        raise InputError(
            f"the slab (depth {depth} mm + thickness {thick} mm) must fit in the box depth {size_mm[1]} mm"
        )
    water = water_phantom(size_mm, spacing_mm)
    y = water.geometry.axis_coordinates_mm()[1]
    front = -float(size_mm[1]) / 2
    # CT numbers are integers (as DICOM stores them): check the table still gives the density back
    hu_slab = int(np.rint(float(density_to_hu(rho))))
    back = float(hu_to_density(hu_slab))
    if abs(back - rho) > 0.01 * rho:
        warn(
            f"slab_density {rho:g}: the nearest integer HU ({hu_slab}) gives {back:.4g} in hbiview's "
            "HU-to-density table (more than 1 % off); the slab uses that value"
        )
    sp = float(spacing_mm)
    for face in (depth, depth + thick):
        if abs(face / sp - round(face / sp)) > 1e-6:
            warn(
                f"slab face at {face:g} mm depth is not on a voxel face (spacing {sp:g} mm): the slab holds "
                "the voxels whose centres lie inside it"
            )
    in_slab = (y > front + depth) & (y < front + depth + thick)
    arr = np.array(water.array, copy=True)
    sel = arr[:, in_slab, :]
    sel[sel == 0] = hu_slab
    arr[:, in_slab, :] = sel
    meta = dict(water.metadata)
    meta.update(
        PatientName="HBIVIEW^LUNGSLAB",
        PatientID="HBIVIEW-SLAB",
        SeriesDescription=f"water box with slab density {rho} at {depth} mm, {thick} mm thick",
    )
    return CTVolume(water.geometry, arr, metadata=meta)


# ---------------------------------------------------------------------- the bundled series
def write_sample_ct(folder: str | Path, force: bool = False) -> list[Path]:
    """Generate the default phantom and write it as the DICOM series of ``sample_ct/``, with a README.

    Parameters
    ----------
    folder
        Target folder.
    force
        Replace an existing series.

    Returns
    -------
    list of pathlib.Path
        The DICOM files, in slice order.
    """
    from hbiview.io.atomic import atomic_path
    from hbiview.io.dicom import write_ct

    phantom = make_phantom()
    files = write_ct(
        phantom.ct,
        folder,
        transfer_syntax=SAMPLE_TRANSFER_SYNTAX,
        uid_seed=SAMPLE_UID_SEED,
        patient_name="HBIVIEW^PHANTOM",
        patient_id="HBIVIEW-0001",
        study_description="hbiview synthetic whole-body phantom",
        series_description="synthetic whole-body CT (hbiview.sample.make_phantom)",
        force=force,
    )
    size_mb = sum(f.stat().st_size for f in files) / 1e6
    with atomic_path(Path(folder) / "README.md", force=True) as tmp:
        tmp.write_text(_sample_readme(phantom, len(files), size_mb))
    return files


def _sample_readme(phantom: Phantom, n_files: int, size_mb: float) -> str:
    g = phantom.geometry
    sz, sy, sx = g.spacing_mm
    _, ny, nx = g.shape
    marks = "\n".join(f"| {name} | {z_mm:.1f} |" for name, z_mm in phantom.landmarks_mm.items())
    return f"""# sample_ct: the synthetic patient

A synthetic, anatomically plausible adult whole-body CT (vertex to soles, 1750 mm, supine, head first,
arms at the sides), generated by `hbiview.sample.make_phantom()`. It is not a real patient: shapes are
analytic (ellipsoids, tapered tubes, stacked superellipses) with typical CT numbers (air -1000, lung -850,
fat -100, muscle and blood 40, liver 60, brain 35, cancellous bone 200-300, cortical bone 1000-1400 HU)
and 10 HU of deterministic Gaussian noise inside the body.

- {n_files} axial slices of {ny} x {nx} pixels, {sx:g} x {sy:g} mm pixels, {sz:g} mm apart (z from
  {g.origin_mm[2]:.1f} mm; the soles are at z = 0);
- DICOM CT, transfer syntax RLE Lossless, RescaleIntercept -1024, PatientPosition HFS,
  PatientName HBIVIEW^PHANTOM, UIDs derived from a fixed seed ({size_mb:.1f} MB on disk);
- the ground truth (organ and bone-site label of every voxel, landmarks, vertebral levels) is not stored
  here: `make_phantom()` returns it, identical every time.

Landmarks (z, mm, LPS, superior positive):

| landmark | z (mm) |
|---|---|
{marks}

Regenerate (bitwise identical pixel data and files):

```bash
python -m hbiview.sample sample_ct --force
```

Variants for robustness tests (thin/thick patient, arms up, couch, partial scans, small field of view) and
the water and lung-slab phantoms: `hbiview phantom --help`.
"""


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m hbiview.sample FOLDER``: regenerate the sample patient series."""
    parser = argparse.ArgumentParser(
        prog="python -m hbiview.sample", description="Write the sample patient CT series."
    )
    parser.add_argument("folder", help="output folder (e.g. sample_ct)")
    parser.add_argument("--force", action="store_true", help="replace an existing series")
    args = parser.parse_args(argv)
    try:
        files = write_sample_ct(args.folder, force=args.force)
    except HbiviewError as exc:
        print(f"hbiview.sample: error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {len(files)} slices to {args.folder}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
