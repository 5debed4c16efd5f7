"""Body outline, lungs and skeleton from Hounsfield units (scipy.ndimage, on a working grid).

Thresholds are the usual CT ones: air/lung below -400 HU (lung parenchyma -900..-500), soft tissue above,
bone above 150 HU (cancellous bone 150-400, cortical 700-1500); the cancellous interior below that (older
patients: 50-250 HU) is filled in from the cortical shell and the spinal canal found by
:mod:`hbiview.anatomy.spine`. Sizes are in millimetres and converted to voxels with the grid's spacing, so
the same code runs on 1 mm and 4 mm CTs. Lungs cut by the scan's first or last slice are found however
little of them is inside; bowel gas is told apart by its purity and its place in front.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from hbiview.anatomy.morph import PLANE4, disk, fill_holes_2d, keep_large_components
from hbiview.errors import warn
from hbiview.geometry import bounding_box

__all__ = [
    "AIR_HU",
    "BONE_HU",
    "CORTEX_HU",
    "METAL_HU",
    "METAL_MIN_CC",
    "body_mask",
    "lung_masks",
    "marrow_mask",
    "metal_implants",
    "skeleton_and_canal",
    "skeleton_mask",
]

#: Below this (HU): air or lung.
AIR_HU = -400.0
#: At or above this (HU) inside the body: bone (cancellous bone starts near 150 HU).
BONE_HU = 150.0
#: Next to bone, a pixel at or above this (HU) is the bone's partial-volume rim.
RIM_HU = 100.0
#: A bone must reach this (HU) somewhere (its cortex); contrast-filled vessels rarely do.
CORTEX_HU = 500.0
#: At or above this (HU): metal. Dense cortical bone stays below about 2000 HU and tooth enamel below about
#: 3000 HU (the ICRP 110 phantom's teeth: 2917 HU); implants saturate a 12-bit CT at 3071 HU or go beyond
#: on an extended scale (the real abdomen CT's femoral implant: up to 3382 HU).
METAL_HU = 3000.0
#: Smallest implant (cm3) counted: a femoral stem or head is 10-40 cm3, a spinal rod about 5 cm3; dental
#: fillings (under 0.5 cm3) are not worth a warning.
METAL_MIN_CC = 1.0
#: Smallest lung (cm3) taken when it is cut by the scan's first or last slice.
EDGE_LUNG_MIN_CC = 5.0
#: Air whose centre lies further in front of the body's centre than this fraction of the body's depth is
#: bowel or stomach gas (supine: gas rises to the front; measured on the real abdomen CT: gas 0.24-0.32,
#: whole lungs behind the centre, the anterior tip of a lung base 0.16)
FRONT_GAS = 0.2
#: Pure gas (bowel gas, airway): lungs have vessels and septa and sit well above this median.
GAS_MEDIAN_HU = -960.0


def body_mask(hu: np.ndarray, spacing_mm: tuple[float, float, float]) -> np.ndarray:
    """The patient: everything above -400 HU connected to the largest object, without couch or devices.

    Thin objects (couch shells, immobilisation masks, blankets, cables) are cut off by an in-plane
    opening of 5 mm radius before the largest 3-D component is chosen; the patient's own surface is
    restored afterwards, and holes (lungs, airways, bowel gas) are filled slice by slice.

    Parameters
    ----------
    hu
        CT in HU on the working grid.
    spacing_mm
        Voxel size ``(z, y, x)`` in mm.
    """
    fg = hu > AIR_HU
    # at least one pixel: on pixels coarser than 5 mm a 5 mm disk is a single pixel and opens nothing
    se = disk(max(5.0, max(spacing_mm[1:])), spacing_mm[1:])
    opened = ndimage.binary_opening(fg, structure=se)
    labels, n = ndimage.label(opened)
    if n == 0:
        warn("no patient found in the CT (nothing above -400 HU): the body mask is empty")
        return np.zeros_like(fg)
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    largest = int(sizes.argmax())
    keep = np.zeros(n + 1, dtype=bool)
    keep[largest] = True
    # other big parts (a limb cut off by the field of view, arms raised beside the head) are kept when they
    # are not flat like a couch: at least 30 mm thick front to back in their thickest slice
    slices = ndimage.find_objects(labels)
    for lab in np.flatnonzero(sizes >= 0.02 * sizes[largest]):
        if lab == largest:
            continue
        sl = slices[lab - 1]
        thickness_mm = (sl[1].stop - sl[1].start) * spacing_mm[1]
        width_mm = (sl[2].stop - sl[2].start) * spacing_mm[2]
        if thickness_mm >= 30.0 and thickness_mm >= 0.25 * width_mm:
            keep[lab] = True
    core = keep[labels]
    # restore the surface removed by the opening: original voxels within the opening radius of the core
    grown = ndimage.binary_dilation(core, structure=se) & fg
    grown = fill_holes_2d(grown)
    # drop specks the restoration picked up
    clean, _, _ = keep_large_components(grown, max(int(0.001 * grown.sum()), 1))
    return clean


def _split_two(mask: np.ndarray, max_iter: int = 12) -> tuple[np.ndarray, np.ndarray] | None:
    """Split one component into its two largest parts by erosion, then grow them back (nearest seed)."""
    box = bounding_box(mask, 1)
    assert box is not None
    sub = mask[box]
    eroded = sub.copy()
    for _ in range(max_iter):
        eroded = ndimage.binary_erosion(eroded, structure=PLANE4)
        labels, n = ndimage.label(eroded)
        if n >= 2:
            sizes = np.bincount(labels.ravel())
            sizes[0] = 0
            order = np.argsort(sizes)[::-1]
            if sizes[order[1]] >= 0.1 * sizes[order[0]]:
                seeds = np.where(labels == order[0], 1, 0) + np.where(labels == order[1], 2, 0)
                _, idx = ndimage.distance_transform_edt(seeds == 0, return_indices=True)
                nearest = seeds[tuple(idx)]
                a = np.zeros_like(mask)
                b = np.zeros_like(mask)
                a[box] = sub & (nearest == 1)
                b[box] = sub & (nearest == 2)
                return a, b
        if not eroded.any():
            return None
    return None


def _airway(air: np.ndarray, spacing_mm: tuple[float, float, float], mid_x: np.ndarray) -> np.ndarray:
    """Trachea and main bronchi: small cross-sections of pure air near the midline, and their branches.

    In every slice, from the head down, a component of ``air`` (the lumen, below -950 HU) of 20-700 mm2
    belongs to the airway when its centre lies within 25 mm of the body's midline (trachea) or when it
    overlaps the airway of the slice above, dilated by 7 mm (main bronchi leaving the midline after the
    carina). The overlap is remembered across up to 40 mm of slices where the lumen is lost.
    """
    pix_mm2 = spacing_mm[1] * spacing_mm[2]
    max_px = 700.0 / pix_mm2
    min_px = max(20.0 / pix_mm2, 1.0)
    airway = np.zeros_like(air)
    prev: np.ndarray | None = None
    missed = 0
    max_missed = max(int(40.0 / spacing_mm[0]), 1)
    grow = max(round(7.0 / min(spacing_mm[1:])), 1)
    for k in range(air.shape[0] - 1, -1, -1):
        if not air[k].any():
            missed += 1
            continue
        labels, n = ndimage.label(air[k])
        sizes = np.bincount(labels.ravel())
        cms = ndimage.center_of_mass(air[k], labels, range(1, n + 1))
        near = prev is not None and missed <= max_missed
        hit = set(np.unique(labels[ndimage.binary_dilation(prev, iterations=grow)])) if near else set()
        take = [
            lab
            for lab, (_, cx) in zip(range(1, n + 1), cms)
            if min_px <= sizes[lab] <= max_px and (abs(cx - mid_x[k]) * spacing_mm[2] <= 25.0 or lab in hit)
        ]
        if not take:
            missed += 1
            continue
        cur = np.isin(labels, take)
        airway[k] = cur
        prev, missed = cur, 0
    return airway


def _regrow(part: np.ndarray, free: np.ndarray) -> np.ndarray:
    """``part`` grown by two pixels in its slices into ``free`` (worked in the part's bounding box)."""
    box = bounding_box(part, 2)
    if box is None:
        return part
    out = part.copy()
    out[box] |= ndimage.binary_dilation(part[box], structure=PLANE4, iterations=2, mask=free[box])
    return out


def _in_front(part: np.ndarray, body: np.ndarray) -> float:
    """How far a region's centre lies in front of the body's centre, as a fraction of the body's depth.

    Compared slice by slice over the region's slices (rows grow towards the back; negative: behind). The
    lungs fill the back of the chest and their centre is behind the body's or near it; gas in the bowel and
    stomach of a patient lying on the back rises to the front.
    """
    k, j, _ = np.nonzero(part)
    rows = np.arange(body.shape[1])
    ks = np.unique(k)
    area = body[ks].sum(axis=2)
    count = np.maximum(area.sum(axis=1), 1)
    centre = (area * rows).sum(axis=1) / count
    occupied = area > 0
    depth = np.where(occupied.any(axis=1), occupied.shape[1] - np.argmax(occupied[:, ::-1], axis=1), 0)
    depth = depth - np.argmax(occupied, axis=1)
    lut_c = np.zeros(body.shape[0])
    lut_d = np.zeros(body.shape[0])
    lut_c[ks], lut_d[ks] = centre, depth
    return -float(np.mean(j - lut_c[k])) / max(float(np.mean(lut_d[k])), 1.0)


def _edge_growing(labels: np.ndarray, sizes: np.ndarray, voxel_cc: float) -> set[int]:
    """Labels that touch the first or last slice with at least half their largest cross-section there."""
    out: set[int] = set()
    for edge in (0, labels.shape[0] - 1):
        for lab in np.unique(labels[edge]):
            if lab == 0 or sizes[lab] * voxel_cc < EDGE_LUNG_MIN_CC:
                continue
            area = (labels == lab).sum(axis=(1, 2))
            if area[edge] >= 0.5 * area.max():
                out.add(int(lab))
    return out


def lung_masks(
    hu: np.ndarray, body: np.ndarray, spacing_mm: tuple[float, float, float], x_sign: float
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Left and right lung: air inside the body without airway and bowel gas.

    Parameters
    ----------
    hu, body
        CT (HU) and body mask on the working grid.
    spacing_mm
        Voxel size ``(z, y, x)`` in mm.
    x_sign
        +1 when the column index grows towards the patient's left (LPS +x), -1 otherwise.

    Returns
    -------
    left, right, notes
        Masks and remarks (lung missing, one lung only...).
    """
    notes: list[str] = []
    voxel_cc = float(np.prod(spacing_mm)) / 1000.0
    # air pockets trapped by hole filling between arm and trunk lie at the surface: peel 5 mm first
    inner = ndimage.binary_erosion(body, structure=disk(5.0, spacing_mm[1:]))
    air = inner & (hu < AIR_HU)
    raw_air = air
    air = ndimage.binary_opening(air, structure=PLANE4) | (
        air & ndimage.binary_erosion(air, structure=PLANE4)
    )
    if not air.any():
        notes.append("no lungs in the scan (no air inside the body)")
        return np.zeros_like(body), np.zeros_like(body), notes
    cols = np.arange(body.shape[2])
    count = body.sum(axis=(1, 2))
    mid_x = np.where(
        count > 0, (body.sum(axis=1) * cols).sum(axis=1) / np.maximum(count, 1), body.shape[2] / 2
    )
    # the airway lumen is pure air (about -1000 HU), lung parenchyma is not (-900..-500): following the
    # lumen below -950 HU keeps the trachea apart from lung that touches it
    airway = _airway(air & (hu < -950.0), spacing_mm, mid_x)
    airway = ndimage.binary_dilation(airway, structure=PLANE4)
    air &= ~airway
    labels, _n = ndimage.label(air)
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    # a lung holds at least 100 cm3, or 25 cm2 in every slice of a scan too short for that
    min_cc = min(100.0, 2.5 * spacing_mm[0] * body.shape[0])
    # a lung cut by the first or last slice (the bases at the top of an abdominal CT, the apices at the
    # bottom of a head-and-neck CT) may be a few cm3: it counts when it widens towards the scan's edge
    edge_ids = _edge_growing(labels, sizes, voxel_cc)
    candidates = []
    edge_candidates = []
    for lab in np.argsort(sizes)[::-1][:12]:
        if lab == 0 or sizes[lab] * voxel_cc < min(min_cc, EDGE_LUNG_MIN_CC):
            continue
        if sizes[lab] * voxel_cc < min_cc and lab not in edge_ids:
            continue
        median = float(np.median(hu[labels == lab]))
        if median < GAS_MEDIAN_HU:  # pure gas: bowel or stomach, not lung
            continue
        if _in_front(labels == lab, body) > FRONT_GAS:  # gas in the bowel rises to the front, lungs lie back
            continue
        candidates.append(int(lab))
        if lab in edge_ids:
            edge_candidates.append(int(lab))
    if not candidates:
        notes.append(
            f"no lungs in the scan (no lung-like air region of at least {min_cc:.0f} cm3 inside the body, "
            f"nor of {EDGE_LUNG_MIN_CC:.0f} cm3 widening towards the scan's first or last slice)"
        )
        return np.zeros_like(body), np.zeros_like(body), notes
    big = sizes[candidates[0]]
    if sizes[candidates[0]] * voxel_cc >= min_cc:
        candidates = [c for c in candidates if sizes[c] >= 0.2 * big][:2]
    else:
        # only lung cut by the scan's edge: every such piece (a base can show as several)
        candidates = edge_candidates
        notes.append(
            f"the lungs are cut by the scan: only {sum(sizes[c] for c in candidates) * voxel_cc:.0f} cm3 "
            "of lung at its edge"
        )
    parts = [labels == c for c in candidates]
    if len(parts) == 1:
        only = parts[0]
        xs = np.nonzero(only)[2]
        centre = np.interp(np.nonzero(only)[0], np.arange(len(mid_x)), mid_x)
        side = np.sign((xs - centre) * x_sign)
        if min((side > 0).mean(), (side < 0).mean()) > 0.2:
            split = _split_two(only)
            if split is not None:
                parts = list(split)
            else:
                notes.append("the lungs touch and could not be separated; split at the body midline")
                right_of_mid = np.zeros_like(only)
                right_of_mid[tuple(np.nonzero(only))] = side < 0
                parts = [only & ~right_of_mid, right_of_mid]
    # give back the rim that the opening took (thin lung, e.g. the bases' crescents on coarse pixels)
    free = raw_air & ~airway
    parts = [_regrow(p, free) for p in parts]
    left = np.zeros_like(body)
    right = np.zeros_like(body)
    for part in parts:
        idx = np.nonzero(part)
        centre = np.interp(idx[0], np.arange(len(mid_x)), mid_x)
        is_left = float(np.mean((idx[2] - centre) * x_sign)) > 0
        if is_left:
            left |= part
        else:
            right |= part
    if not left.any() or not right.any():
        notes.append(f"only the {'left' if left.any() else 'right'} lung was found in the scan")
    # vessels inside the lungs belong to them (holes filled), the airway does not
    left = fill_holes_2d(left) & ~airway
    right = fill_holes_2d(right) & ~left & ~airway
    trachea = _midline_tube(left | right, spacing_mm, mid_x)
    if trachea.any():
        left &= ~trachea
        right &= ~trachea
    return left, right, notes


def _midline_tube(lungs: np.ndarray, spacing_mm: tuple[float, float, float], mid_x: np.ndarray) -> np.ndarray:
    """Airway left in the lung mask above the lungs' widest slice: small pieces on the midline.

    On coarse CTs the tracheal lumen is not pure air (partial volume with its wall), so the airway search
    can miss it and the trachea joins the lungs, putting the apex at the larynx. Above the slice where the
    lungs are largest, a separate piece of the mask in a slice of at most 700 mm2 whose centre lies within
    20 mm of the midline is the trachea (or a main bronchus before the carina), not lung: the apices lie
    30 mm or more to each side of the midline.
    """
    out = np.zeros_like(lungs)
    area = lungs.sum(axis=(1, 2))
    if not area.any():
        return out
    widest = int(np.argmax(area))
    pix_mm2 = spacing_mm[1] * spacing_mm[2]
    for k in range(widest + 1, lungs.shape[0]):
        if not area[k]:
            continue
        labels, n = ndimage.label(lungs[k])
        sizes = np.bincount(labels.ravel())
        cms = ndimage.center_of_mass(lungs[k], labels, range(1, n + 1))
        for lab, (_, cx) in zip(range(1, n + 1), cms):
            if sizes[lab] * pix_mm2 <= 700.0 and abs(cx - mid_x[k]) * spacing_mm[2] <= 20.0:
                out[k] |= labels == lab
    return out


def skeleton_mask(hu: np.ndarray, body: np.ndarray, spacing_mm: tuple[float, float, float]) -> np.ndarray:
    """Bone inside the body: above 150 HU, in pieces of at least 0.3 cm3 that reach 500 HU somewhere.

    Small pieces (noise, calcifications) and pieces without a cortex (contrast-filled vessels, bowel
    contrast) are removed; holes of up to 30 mm2 (noise in cancellous bone) are filled slice by slice.
    Larger holes stay open: the cranial cavity, the spinal canal and fatty medullary cavities are not bone.
    """
    voxel_cc = float(np.prod(spacing_mm)) / 1000.0
    bone = body & (hu >= BONE_HU)
    labels, n = ndimage.label(bone, structure=np.ones((3, 3, 3), dtype=bool))
    if n == 0:
        return bone
    sizes = np.bincount(labels.ravel())
    has_cortex = np.zeros(n + 1, dtype=bool)
    has_cortex[np.unique(labels[bone & (hu >= CORTEX_HU)])] = True
    keep = (sizes * voxel_cc >= 0.3) & has_cortex
    keep[0] = False
    skeleton = keep[labels]
    return fill_holes_2d(skeleton, max(int(30.0 / (spacing_mm[1] * spacing_mm[2])), 1)) & body


def skeleton_and_canal(
    hu: np.ndarray, body: np.ndarray, spacing_mm: tuple[float, float, float]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The whole skeleton (cortex and its interior), the spinal canal and the closed bones, canonical view.

    The thresholded skeleton (:func:`skeleton_mask`) holds the cortex and dense cancellous bone; the
    cancellous interior below 150 HU (older patients: 50-250 HU) and the medullary cavities are the holes
    it leaves in each slice, told apart from the spinal canal and from cavities (cranial cavity, chest,
    pelvic inlet) by :mod:`hbiview.anatomy.spine`.

    Returns
    -------
    skeleton, canal, solid
        ``solid`` is the cortex with the interiors its shell closes, without the tissue filled in where the
        shell is open nor the partial-volume rim: the landmark finder measures the femoral heads on it
        (filling the hip joint would move their centres towards the acetabulum).
    """
    from hbiview.anatomy.spine import bone_interior, spinal_canal

    cortex = skeleton_mask(hu, body, spacing_mm)
    canal = spinal_canal(hu, cortex, body, spacing_mm)
    holes, enclosed = bone_interior(hu, cortex, canal, spacing_mm)
    solid = (cortex | holes) & body
    bone = solid | (enclosed & body)
    # the partial-volume rim of thin bone (ribs, laminae, transverse processes one or two pixels thick reach
    # only 100-150 HU): one pixel in the slice around the bone where the CT is at least RIM_HU
    rim = ndimage.binary_dilation(bone, structure=np.ones((1, 3, 3), dtype=bool)) & (hu >= RIM_HU)
    return bone | (rim & body & ~canal), canal & ~cortex, solid


def marrow_mask(hu: np.ndarray, skeleton: np.ndarray, spacing_mm: tuple[float, float, float]) -> np.ndarray:
    """Cancellous interior of the bones: the skeleton without its outer 1-voxel shell where it is dense.

    A voxel of the skeleton holds marrow when it lies inside the bone (not on its surface) or, for thin
    bones whose interior is smaller than a voxel (ribs, scapular blades), when it is below 450 HU
    (partial volume of cancellous bone rather than cortex).
    """
    interior = ndimage.binary_erosion(skeleton, structure=PLANE4)
    return skeleton & (interior | (hu < 450.0))


def metal_implants(
    hu: np.ndarray, body: np.ndarray, spacing_mm: tuple[float, float, float]
) -> tuple[np.ndarray, float]:
    """Metal inside the body: pieces of at least :data:`METAL_MIN_CC` at or above :data:`METAL_HU`.

    Parameters
    ----------
    hu
        CT (HU) at its own resolution (thin rods are lost when averaged onto a coarser grid).
    body
        The body mask on the same grid.
    spacing_mm
        Voxel size (z, y, x) in mm.

    Returns
    -------
    metal, volume_cc
        The mask of the pieces kept and their volume (cm3).
    """
    dense = body & (np.asarray(hu) >= METAL_HU)
    box = bounding_box(dense)
    metal = np.zeros(dense.shape, dtype=bool)
    if box is None:
        return metal, 0.0
    voxel_cc = float(np.prod(spacing_mm)) / 1000.0
    labels, n = ndimage.label(dense[box], structure=np.ones((3, 3, 3), dtype=bool))
    sizes = np.bincount(labels.ravel(), minlength=n + 1) * voxel_cc
    keep = sizes >= METAL_MIN_CC
    keep[0] = False
    metal[box] = keep[labels]
    return metal, float(sizes[keep].sum())
