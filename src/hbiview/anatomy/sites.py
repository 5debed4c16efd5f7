"""Assign every marrow voxel to a skeletal site, from its position relative to landmarks, spine and lungs.

Rules (canonical orientation, distances in mm from the midline ``dx``, the spine centre ``dy``):

* bone in a separate limb (a body part apart from the trunk in its slice) or far lateral to the rib cage
  is an arm or leg bone: humerus (upper half, within 170 mm below the top of the humeral head) or femur
  (upper half, from the femoral head to half-way to the knee); the rest of the limb holds no marrow;
* above the skull base: cranium; in the neck, bone in front of the spine: mandible;
* the spinal column (within 28 mm of the midline in the thorax, 45 mm elsewhere, and within 45 mm of the
  spine centre front to back): cervical, thoracic, lumbar spine or sacrum between the vertebral
  levels C7/T1, T12/L1 and L5/S1;
* in the thorax: the sternum in front on the midline, the clavicles in front near the lung apices, the
  scapulae behind and more than 20 mm outside the rib cage, the humeral heads lateral to the scapulae;
  the rest are ribs (also lateral bone between the lungs and the iliac crest);
* below the iliac crest: the femora within their heads' spheres, lateral to the heads below their centres
  and everything more than 75 mm below them; the rest is the os coxae.

Typical adult lengths used where the image cannot say (our rounded estimates): the active upper half of
the humerus 170 mm, of the femur 225 mm when the knee is not in the scan.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from hbiview.anatomy.landmarks import Context
from hbiview.labels import MARROW_SITES

__all__ = ["SITE_EXTENT", "assign_sites", "site_coverage"]

_ID = {site: i + 1 for i, site in enumerate(MARROW_SITES)}
HUMERUS_ACTIVE_MM = 170.0
FEMUR_ACTIVE_MM = 225.0

#: Landmark span (upper, lower) of each site, to estimate how much of a site cut by the scan is inside.
SITE_EXTENT: dict[str, tuple[str, float, str, float]] = {
    # site: (upper landmark, offset mm, lower landmark, offset mm); vertebral spans reach half a vertebra
    # beyond the centres; the others use typical adult sizes (our rounded estimates): vertex 140 mm above
    # C1, mandible 80 mm below it, os coxae 200 mm below the crest, sacrum and coccyx 130 mm below S1, the
    # upper half of the femur from 25 mm above the head centre to 225 mm below the head's top
    "cervical_spine": ("C1", 10.0, "C7", -10.0),
    "thoracic_spine": ("T1", 12.0, "T12", -12.0),
    "lumbar_spine": ("L1", 17.0, "L5", -17.0),
    "ribs": ("T1", 15.0, "L1", -15.0),
    "sternum": ("T2", 15.0, "T10", -15.0),
    "scapulae": ("C7", 15.0, "T8", -15.0),
    "clavicles": ("C6", 15.0, "T2", -15.0),
    "cranium": ("C1", 140.0, "C1", -10.0),
    "mandible": ("C1", 0.0, "C1", -80.0),
    "pelvis_os_coxae": ("iliac_crest", 0.0, "iliac_crest", -200.0),
    "sacrum": ("S1", 20.0, "S1", -130.0),
    "femora_upper_half": ("femoral_heads", 25.0, "femoral_heads", -200.0),
}


def assign_sites(
    marrow: np.ndarray,
    lungs: np.ndarray,
    ctx: Context,
) -> np.ndarray:
    """Site label (0 none, ``i + 1`` for ``MARROW_SITES[i]``) of every marrow voxel, canonical orientation.

    Parameters
    ----------
    marrow
        Marrow candidates (cancellous bone), canonical orientation on the working grid.
    lungs
        Both lungs, same grid.
    ctx
        Landmarks, midline, spine and trunk from :func:`hbiview.anatomy.landmarks.landmarks_from_masks`.
    """
    _sz, sy, sx = ctx.spacing_mm
    est = ctx.estimates
    labels = np.zeros(marrow.shape, dtype=np.uint8)
    k, j, i = np.nonzero(marrow)
    if k.size == 0:
        return labels
    z = ctx.z_mm[k]
    dx = (i - ctx.mid_x[k]) * sx
    spine_y = ctx.spine_y.copy()
    ok = np.isfinite(spine_y)
    if ok.any():
        spine_y = np.interp(np.arange(len(spine_y)), np.flatnonzero(ok), spine_y[ok])
    else:
        spine_y[:] = marrow.shape[1] * 0.7
    dy = (j - spine_y[k]) * sy  # + behind the spine centre
    in_trunk = ctx.trunk[k, j, i]
    site = np.zeros(k.size, dtype=np.uint8)
    todo = np.ones(k.size, dtype=bool)

    def take(mask: np.ndarray, name: str | None) -> None:
        nonlocal todo
        sel = todo & mask
        if name is not None:
            site[sel] = _ID[name]
        todo &= ~sel

    big = 1e9
    # without a skull base found (coarse slices), C1, placed from the other landmarks, sits just below it
    sb = est.get("skull_base", est["C1"] + 5.0 if "C1" in est else big)
    apex = est.get("lung_apex", est.get("T1", -big))
    base = est.get("lung_base", est.get("T10", -big))
    crest = est.get("iliac_crest", est.get("L4", -big))
    b_ct = (est["C7"] + est["T1"]) / 2 if "C7" in est and "T1" in est else -big
    b_tl = (est["T12"] + est["L1"]) / 2 if "T12" in est and "L1" in est else -big
    b_ls = (est["L5"] + est["S1"]) / 2 if "L5" in est and "S1" in est else -big

    # ---- lung half-width per slice (rib cage = lungs + ribs), for "lateral to the rib cage"
    cols = np.arange(marrow.shape[2])
    lung_dx = np.abs(cols[None, None, :] - ctx.mid_x[:, None, None]) * sx
    half_width = np.where(lungs.any(axis=(1, 2)), np.max(np.where(lungs, lung_dx, 0), axis=(1, 2)), np.nan)
    if np.isfinite(half_width).any():
        fill = np.nanmax(half_width)
        half_width = np.where(np.isfinite(half_width), half_width, fill)
    else:
        half_width[:] = 150.0
    cage = half_width[k] + 30.0

    # ---- limbs: arms (shoulder at the lung apex) and legs
    shoulder = apex - 10.0 if np.isfinite(apex) and apex > -big else sb - 150.0
    fh = est.get("femoral_heads")
    knee = est.get("knees")
    head_top = None
    if ctx.femoral_heads:
        head_top = float(
            np.mean([np.interp(h[0], np.arange(len(ctx.z_mm)), ctx.z_mm) + h[3] for h in ctx.femoral_heads])
        )
    femur_mid = None
    if head_top is not None:
        femur_mid = (head_top + knee) / 2 if knee is not None else head_top - FEMUR_ACTIVE_MM
    limb = ~in_trunk | ((z < apex + 40.0) & (z > crest) & (np.abs(dx) > cage + 15.0))
    is_leg = limb & (z < (fh if fh is not None else -big)) & (np.abs(dx) < 150.0)
    if femur_mid is not None:
        take(is_leg & (z >= femur_mid), "femora_upper_half")
    take(is_leg, None)
    if ctx.arms_up:
        # raised arms: the humeral head is the lowest arm bone near the lung apex, the shaft goes up
        near = limb & (z >= shoulder - 150.0) & (z <= shoulder + 70.0)
        bottom = float(z[near].min()) if near.any() else shoulder - 20.0
        humerus = limb & (z >= bottom - 5.0) & (z <= bottom + HUMERUS_ACTIVE_MM)
    else:
        # the top of the humeral head: the highest arm bone near the lung apex
        near = limb & (z >= shoulder - 150.0) & (z <= shoulder + 70.0)
        top = float(z[near].max()) if near.any() else shoulder - 20.0
        humerus = limb & (z <= top + 5.0) & (z >= top - HUMERUS_ACTIVE_MM)
    take(humerus, "humeri_upper_half")
    take(limb, None)

    # ---- head and neck
    spine_w = np.where((z <= b_ct) & (z >= b_tl), 28.0, 45.0)
    spinal = (np.abs(dx) <= spine_w) & (dy >= -45.0) & (dy <= 45.0)
    take(z >= sb + 10.0, "cranium")
    take((z >= sb - 20.0) & ~spinal, "cranium")  # face and skull base beside the atlas
    take((z > b_ct) & ~spinal & (dy < -25.0) & (z >= sb - 90.0), "mandible")

    # ---- spinal column
    if "T1" not in est:  # no vertebral level known: the thoracic spine is where the lungs are, else unknown
        with_lungs = np.asarray(lungs.any(axis=(1, 2)))[k]
        take(spinal & with_lungs, "thoracic_spine")
        take(spinal, None)
    take(spinal & (z > b_ct), "cervical_spine")
    take(spinal & (z > b_tl), "thoracic_spine")
    take(spinal & (z > b_ls), "lumbar_spine")
    take(spinal & (z > crest - 200.0) & (np.abs(dx) <= 45.0), "sacrum")

    # ---- thorax
    thorax = (z <= apex + 40.0) & (z > crest)
    front = dy < -60.0
    take(thorax & (np.abs(dx) <= 30.0) & front & (z <= apex) & (z >= base - 60.0), "sternum")
    outside = _outside_rib_cage(k, j, i, todo & thorax, lungs, ctx)
    # the clavicles: in front, outside the rib cage (or above the first ribs), near the lung apices
    take(thorax & front & (outside | (z >= apex - 45.0)) & (z >= apex - 90.0), "clavicles")
    scap = thorax & (dy > -40.0) & (np.abs(dx) > 50.0) & outside & (z >= apex - 220.0)
    take(scap & (np.abs(dx) > cage), "humeri_upper_half")
    take(scap, "scapulae")
    take(thorax & (z >= base - 250.0), "ribs")

    # ---- pelvis and hips
    pelvis = z <= crest + 10.0
    femur = np.zeros(k.size, dtype=bool)
    for hk, hj, hi, r in ctx.femoral_heads:
        hz = float(np.interp(hk, np.arange(len(ctx.z_mm)), ctx.z_mm))
        hdx = (hi - np.interp(hk, np.arange(len(ctx.mid_x)), ctx.mid_x)) * sx
        same_side = np.sign(dx) == np.sign(hdx)
        d2 = (z - hz) ** 2 + ((j - hj) * sy) ** 2 + ((i - hi) * sx) ** 2
        femur |= same_side & (d2 <= r**2)
        femur |= same_side & (z < hz) & (np.abs(dx) >= abs(hdx) - 5.0)
        femur |= same_side & (z < hz - 75.0)
    if femur_mid is not None:
        take(pelvis & femur & (z >= femur_mid), "femora_upper_half")
    take(pelvis & femur, None)
    take(pelvis, "pelvis_os_coxae")
    labels[k, j, i] = site
    return labels


def _outside_rib_cage(
    k: np.ndarray, j: np.ndarray, i: np.ndarray, candidates: np.ndarray, lungs: np.ndarray, ctx: Context
) -> np.ndarray:
    """Whether each voxel lies more than 20 mm outside the innermost bone (the ribs) in its direction.

    Around the centre of the lungs in each slice, the bone of the candidates is binned by direction
    (5 degree sectors); the ribs are the innermost bone of a sector within 12 mm up or down, and a
    scapula or humerus lies further out along the same direction, beyond the muscle between them.
    """
    out = np.zeros(k.size, dtype=bool)
    if not candidates.any() or not lungs.any():
        return out
    sz, sy, sx = ctx.spacing_mm
    nz = lungs.shape[0]
    rows = np.arange(lungs.shape[1])
    count = lungs.sum(axis=(1, 2))
    cy = np.where(count > 0, (lungs.sum(axis=2) * rows).sum(axis=1) / np.maximum(count, 1), np.nan)
    ok = np.isfinite(cy)
    cy = np.interp(np.arange(nz), np.flatnonzero(ok), cy[ok])
    sel = np.flatnonzero(candidates)
    ang = np.arctan2((j[sel] - cy[k[sel]]) * sy, (i[sel] - ctx.mid_x[k[sel]]) * sx)
    rad = np.hypot((j[sel] - cy[k[sel]]) * sy, (i[sel] - ctx.mid_x[k[sel]]) * sx)
    n_bins = 72
    b = ((ang + np.pi) / (2 * np.pi) * n_bins).astype(int) % n_bins
    inner = np.full((nz, n_bins), np.inf)
    np.minimum.at(inner, (k[sel], b), rad)
    window = max(round(12.0 / sz), 1)
    envelope = ndimage.minimum_filter(inner, size=(2 * window + 1, 3), mode=("nearest", "wrap"))
    out[sel] = rad > envelope[k[sel], b] + 20.0
    return out


def site_coverage(
    labels: np.ndarray, ctx: Context, scan_z_mm: tuple[float, float]
) -> tuple[dict[str, float], list[str]]:
    """Fraction of each site estimated inside the scan, for sites that the scan's top or bottom cuts.

    A site whose marrow reaches the first or last slice is cut. The fraction inside is the part of the
    site's span (:data:`SITE_EXTENT`: vertebral levels, landmarks and typical sizes) inside the scan; a cut
    site whose span cannot be placed (its landmark is unknown) keeps its full share, said in the notes.
    A site whose span lies wholly outside the scan gets coverage 0: the bone taken for it is a neighbour's.

    Returns
    -------
    coverage, notes
    """
    coverage: dict[str, float] = {}
    notes: list[str] = []
    present = np.bincount(labels.ravel(), minlength=len(MARROW_SITES) + 1)
    at_top = np.bincount(labels[-1].ravel(), minlength=len(MARROW_SITES) + 1)
    at_bottom = np.bincount(labels[0].ravel(), minlength=len(MARROW_SITES) + 1)
    lo, hi = scan_z_mm
    for idx, site in enumerate(MARROW_SITES, start=1):
        if present[idx] == 0:
            continue
        cut = at_top[idx] > 0 or at_bottom[idx] > 0
        span = SITE_EXTENT.get(site)
        if span and span[0] in ctx.estimates and span[2] in ctx.estimates:
            upper = ctx.estimates[span[0]] + span[1]
            lower = ctx.estimates[span[2]] + span[3]
            inside = max(0.0, min(hi, upper) - max(lo, lower))
            if inside <= 0.0:
                # the site cannot be in this scan: whatever was called so belongs to a neighbour
                coverage[site] = 0.0
                notes.append(f"bone taken for {site} lies outside its expected span; not counted as {site}")
                continue
            if cut:
                frac = float(np.clip(inside / max(upper - lower, 1.0), 0.05, 1.0))
                coverage[site] = frac
                notes.append(
                    f"{site} is cut by the scan: about {frac:.0%} of it is inside (estimated from landmarks)"
                )
        elif cut:
            notes.append(f"{site} is cut by the scan: its whole share is counted on the part inside")
    return coverage, notes
