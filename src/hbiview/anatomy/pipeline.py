"""The segmentation pipeline: body, lungs, skeleton, spinal canal, marrow by site with weights, landmarks.

The CT is viewed in canonical orientation (head up the slices, back down the rows, left along the
columns), block-averaged in-plane to about 2 mm pixels (4 mm for landmarks alone), segmented there with
scipy.ndimage, and the masks are brought back to the CT grid. Imported structures (clinical RTSTRUCT,
mask files, TotalSegmentator) take the place of the automatic ones with the same role.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from hbiview.anatomy.landmarks import (
    LANDMARK_SPACING_MM,
    Context,
    canonical_view,
    coarse_warning,
    landmarks_from_masks,
)
from hbiview.anatomy.marrow import marrow_weights
from hbiview.anatomy.morph import PLANE4, downsample_mean, upsample_mask
from hbiview.anatomy.names import map_structures
from hbiview.anatomy.sites import assign_sites, site_coverage
from hbiview.anatomy.tissues import (
    AIR_HU,
    METAL_HU,
    body_mask,
    lung_masks,
    marrow_mask,
    metal_implants,
    skeleton_and_canal,
)
from hbiview.anatomy.types import AnatomyResult, Landmark, Landmarks, color_of
from hbiview.errors import warn
from hbiview.labels import BONE_SITES, MARROW_SITES
from hbiview.volume import CTVolume, Structure

__all__ = ["Tissues", "body_structure", "combine_structures", "find_landmarks", "segment", "segment_tissues"]

#: In-plane pixel size (mm) the segmentation works at.
WORK_SPACING_MM = 2.0


@dataclass
class Tissues:
    """Masks on the working grid (canonical orientation) and what the landmark finder learnt."""

    factor: int
    flips: tuple[slice, slice, slice]
    spacing_mm: tuple[float, float, float]
    body: np.ndarray
    lung_l: np.ndarray
    lung_r: np.ndarray
    skeleton: np.ndarray
    marrow: np.ndarray
    canal: np.ndarray
    landmarks: Landmarks
    context: Context
    notes: list[str]


def _work_mask(structure: Structure, ct: CTVolume, flips: tuple[slice, ...], factor: int) -> np.ndarray:
    s = structure if structure.geometry.isclose(ct.geometry) else structure.resampled(ct.geometry)
    return downsample_mean(s.mask[flips], factor) >= 0.5


def segment_tissues(
    ct: CTVolume,
    *,
    target_spacing_mm: float = WORK_SPACING_MM,
    structures: Mapping[str, Structure] | None = None,
) -> Tissues:
    """Body, lungs, skeleton, marrow candidates and landmarks on a working grid.

    Parameters
    ----------
    ct
        Axial CT in HU.
    target_spacing_mm
        In-plane pixel size (mm) to work at; the CT is block-averaged by a whole factor towards it.
    structures
        Role -> structure on the CT grid (``Body``, ``Lung_L``, ``Lung_R``, ``Lungs``, ``Skeleton``)
        used instead of the automatic ones.
    """
    structures = dict(structures or {})
    geometry = ct.geometry
    flips, z_mm = canonical_view(geometry)
    sz, sy, sx = (float(v) for v in geometry.spacing_mm)
    factor = max(1, int(np.round(target_spacing_mm / max(sy, sx))))
    spacing = (sz, sy * factor, sx * factor)
    hu = downsample_mean(np.asarray(ct.array)[flips], factor)
    notes: list[str] = []

    def given(role: str) -> np.ndarray | None:
        return _work_mask(structures[role], ct, flips, factor) if role in structures else None

    body = given("Body")
    if body is None:
        body = body_mask(hu, spacing)
    left, right = given("Lung_L"), given("Lung_R")
    if left is None or right is None:
        auto_l, auto_r, lung_notes = lung_masks(hu, body, spacing, 1.0)
        lungs_given = given("Lungs")
        if lungs_given is not None and left is None and right is None:
            # imported lungs without sides: split them like the automatic lungs, nearest side wins
            left, right = _split_like(lungs_given, auto_l, auto_r)
        else:
            notes.extend(lung_notes)
            left = auto_l if left is None else left
            right = auto_r if right is None else right
    skeleton = given("Skeleton")
    auto_skeleton, canal, solid = skeleton_and_canal(hu, body, spacing)
    if skeleton is None:
        skeleton = auto_skeleton
    else:
        solid = skeleton
    marrow = marrow_mask(hu, skeleton, spacing)
    landmarks, ctx = landmarks_from_masks(hu, body, left, right, solid, z_mm, spacing)
    return Tissues(factor, flips, spacing, body, left, right, skeleton, marrow, canal, landmarks, ctx, notes)


def _metal_note(metal: np.ndarray, volume_cc: float, ct: CTVolume) -> str:
    """What an implant in the CT means for the anatomy and the dose (one sentence for the warning)."""
    from hbiview.density import hu_to_density

    planes = np.flatnonzero(metal.any(axis=(1, 2)))
    z = ct.geometry.index_to_lps(np.column_stack([planes, np.zeros((planes.size, 2))]))[:, 2]
    density = float(np.median(hu_to_density(np.asarray(ct.array)[metal])))
    return (
        f"metal in the CT: {volume_cc:.0f} cm3 at or above {METAL_HU:.0f} HU at z {z.min():.0f} to "
        f"{z.max():.0f} mm (an implant: hip prosthesis, nail, rods); it holds no active marrow (left out), "
        "streaks around it can look like bone, and its CT numbers saturate: the dose engine takes it as "
        f"{density:.1f} g/cm3 where implants are 4.5 (titanium) to 8 g/cm3 (steel, cobalt-chrome), so the "
        "dose in its shadow is overestimated"
    )


def _split_like(lungs: np.ndarray, auto_l: np.ndarray, auto_r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    seeds = np.where(auto_l, 1, 0) + np.where(auto_r & ~auto_l, 2, 0)
    if not seeds.any():
        return lungs.copy(), np.zeros_like(lungs)
    _, idx = ndimage.distance_transform_edt(seeds == 0, return_indices=True)
    nearest = seeds[tuple(idx)]
    return lungs & (nearest == 1), lungs & (nearest == 2)


def _as_landmarks(value: Landmarks | Mapping[str, object]) -> Landmarks:
    if isinstance(value, Landmarks):
        return value
    out = {}
    for name, v in value.items():
        if isinstance(v, Landmark):
            out[name] = v
        else:
            out[name] = Landmark(None if v is None else float(v), 1.0, "given")  # type: ignore[arg-type]
    return Landmarks(out)


def _full(mask_work: np.ndarray, t: Tissues | _WorkGrid, ct: CTVolume) -> np.ndarray:
    """A working-grid canonical mask (or label volume) on the CT grid in the CT's own orientation."""
    canonical_shape = ct.geometry.shape
    up = upsample_mask(mask_work, t.factor, canonical_shape)
    return np.ascontiguousarray(up[t.flips])


def _refined(mask_work: np.ndarray, t: Tissues | _WorkGrid, ct: CTVolume, *, above: bool) -> np.ndarray:
    """A working-grid mask on the CT grid, its edge redrawn at full resolution by the -400 HU threshold.

    The interior (the mask eroded by one working pixel) is kept as it is; in the one-pixel band around the
    edge a voxel belongs to the mask when it is above (body) or below (lung) -400 HU on the CT itself.
    """
    if t.factor == 1:
        return _full(mask_work, t, ct)

    inner = _full(ndimage.binary_erosion(mask_work, structure=PLANE4), t, ct)
    band = _full(ndimage.binary_dilation(mask_work, structure=PLANE4), t, ct)
    band &= ~inner
    hu = np.asarray(ct.array)
    for k in range(hu.shape[0]):  # slice by slice: no full-size float temporary
        side = hu[k] > AIR_HU if above else hu[k] < AIR_HU
        band[k] &= side
    return inner | band


def body_structure(ct: CTVolume, *, target_spacing_mm: float = WORK_SPACING_MM) -> Structure:
    """The ``Body`` structure alone, exactly as :func:`segment` makes it (without couch or devices).

    For callers that need the patient's outline before (or without) a full segmentation: plans and the dose
    engine (:class:`hbiview.pipeline.Case` hands it to them). The same working grid, threshold, couch
    removal (:func:`hbiview.anatomy.tissues.body_mask`) and full-resolution edge as :func:`segment`, so
    the two give the same mask.

    Parameters
    ----------
    ct
        Axial CT in HU.
    target_spacing_mm
        In-plane pixel size (mm) to work at (as :func:`segment_tissues`).
    """
    geometry = ct.geometry
    flips, _ = canonical_view(geometry)
    sz, sy, sx = (float(v) for v in geometry.spacing_mm)
    factor = max(1, int(np.round(target_spacing_mm / max(sy, sx))))
    spacing = (sz, sy * factor, sx * factor)
    hu = downsample_mean(np.asarray(ct.array)[flips], factor)
    work = body_mask(hu, spacing)
    grid = _WorkGrid(factor, flips)
    return Structure(geometry, _refined(work, grid, ct, above=True), name="Body", color=color_of("Body"))


@dataclass(frozen=True)
class _WorkGrid:
    """How a working-grid mask maps back to the CT (the part of :class:`Tissues` that :func:`_full` reads)."""

    factor: int
    flips: tuple[slice, ...]


def segment(
    ct: CTVolume,
    *,
    landmarks: Landmarks | Mapping[str, object] | None = None,
    imported: Mapping[str, Structure] | Sequence[Structure] | None = None,
    names_map: Mapping[str, str] | None = None,
) -> AnatomyResult:
    """Segment body, lungs, skeleton and active marrow of a CT, and find its landmarks.

    Parameters
    ----------
    ct
        Axial CT in HU.
    landmarks
        Known landmark z values (a :class:`Landmarks` or ``{name: z_mm}``); they replace the ones found.
    imported
        Structures to use instead of the automatic ones (clinical RTSTRUCT, masks, TotalSegmentator):
        names are mapped to roles with :func:`hbiview.anatomy.names.role_of` and ``names_map``.
        ``Body``, ``Lung_L``, ``Lung_R``, ``Lungs`` and ``Skeleton`` replace the automatic masks;
        ``Bone_<site>`` masks give the marrow sites exactly; other structures are added as they are.
    names_map
        User mapping clinical name -> role.

    Returns
    -------
    AnatomyResult
        Structures ``Body``, ``Lung_L``, ``Lung_R``, ``Lungs``, ``Skeleton``, ``Marrow`` (with weights:
        each voxel's fraction of the body's active marrow), ``SpinalCanal`` on the CT grid, the site
        label volume, the landmarks, and the active-marrow sites outside the scan with the fraction they
        carry.
    """
    roles, others = map_structures(imported or [], names_map)
    roles = {
        r: (s if s.geometry.isclose(ct.geometry) else s.resampled(ct.geometry)) for r, s in roles.items()
    }
    t = segment_tissues(ct, structures=roles)
    notes = list(t.notes)
    ctx = t.context
    found = t.landmarks
    coarse = coarse_warning(tuple(ct.geometry.spacing_mm), ctx) if landmarks is None else None
    if coarse is not None:
        notes.append(coarse)
        warn(coarse)
    if landmarks is not None:
        given = _as_landmarks(landmarks)
        merged = dict(found.items())
        merged.update(given.items())
        found = Landmarks(merged)
        ctx.estimates.update({n: lm.z_mm for n, lm in given.items() if lm.z_mm is not None})

    bone_roles = {r.removeprefix("Bone_"): s for r, s in roles.items() if r.startswith("Bone_")}
    if bone_roles:
        labels_w = np.zeros(t.marrow.shape, dtype=np.uint8)
        for site, s in bone_roles.items():
            if site in MARROW_SITES:
                labels_w[_work_mask(s, ct, t.flips, t.factor) & t.marrow] = MARROW_SITES.index(site) + 1
        unknown = sorted(set(bone_roles) - set(BONE_SITES))
        if unknown:  # pragma: no cover - roles come from names.ROLES
            notes.append(f"ignored bone masks {unknown}")
        notes.append(f"marrow sites from imported bone masks: {', '.join(sorted(bone_roles))}")
    else:
        lungs_w = t.lung_l | t.lung_r
        labels_w = assign_sites(t.marrow, lungs_w, ctx)
    scan = (float(ctx.z_mm[0]), float(ctx.z_mm[-1]))
    coverage, cov_notes = site_coverage(labels_w, ctx, scan)
    notes.extend(cov_notes)
    for site, cov in coverage.items():
        if cov == 0.0:
            labels_w[labels_w == MARROW_SITES.index(site) + 1] = 0

    geometry = ct.geometry

    def structure(name: str, mask: np.ndarray, weights: np.ndarray | None = None) -> Structure:
        return Structure(geometry, mask, name=name, color=color_of(name), weights=weights)

    out: dict[str, Structure] = {}
    out["Body"] = roles.get("Body") or structure("Body", _refined(t.body, t, ct, above=True))
    labels_full = _full(labels_w, t, ct)
    if "Marrow" in roles:
        labels_full[~roles["Marrow"].mask] = 0
    metal, metal_cc = metal_implants(np.asarray(ct.array), out["Body"].mask, tuple(geometry.spacing_mm))
    if metal_cc > 0:
        # an implant holds no marrow (a stem fills the medullary cavity), nor does its partial-volume rim
        labels_full[ndimage.binary_dilation(metal, structure=np.ones((3, 3, 3), dtype=bool))] = 0
        notes.append(_metal_note(metal, metal_cc, ct))
        warn(notes[-1])
    mw = marrow_weights(labels_full, coverage)
    left = roles.get("Lung_L") or structure("Lung_L", _refined(t.lung_l, t, ct, above=False))
    right_mask = _refined(t.lung_r, t, ct, above=False) & ~left.mask
    right = roles.get("Lung_R") or structure("Lung_R", right_mask)
    out["Lung_L"], out["Lung_R"] = left, right
    out["Lungs"] = roles.get("Lungs") or structure("Lungs", left.mask | right.mask)
    out["Skeleton"] = roles.get("Skeleton") or structure("Skeleton", _full(t.skeleton, t, ct))
    out["Marrow"] = structure("Marrow", labels_full > 0, mw.weights)
    if "SpinalCanal" not in others:
        out["SpinalCanal"] = structure("SpinalCanal", _full(t.canal, t, ct))
    for name, s in others.items():
        out.setdefault(name, s if s.geometry.isclose(geometry) else s.resampled(geometry))
    edge = np.zeros(t.body.shape[0], dtype=bool)
    for face in (t.body[:, 0, :], t.body[:, -1, :], t.body[:, :, 0], t.body[:, :, -1]):
        edge |= face.sum(axis=1) * t.spacing_mm[1] >= 20.0
    if edge.sum() >= 3:
        notes.append(
            f"the field of view cuts the body in {int(edge.sum())} of {edge.size} slices: the body "
            "outline, its volume and anything outside the image (arms, hips) are incomplete there"
        )
        warn(notes[-1])
    if mw.missing_sites:
        warn(
            f"active-marrow sites not in the scan: {', '.join(mw.missing_sites)}; the marrow weights cover "
            f"{1 - mw.missing_fraction:.0%} of the body's active marrow "
            f"({mw.missing_fraction:.0%} lies outside)"
        )
    for note in notes:
        if "cut by the scan" in note or "no lungs" in note or "only the" in note or "could not" in note:
            warn(note)
    return AnatomyResult(
        structures=out,
        site_labels=labels_full,
        landmarks=found,
        site_fractions=mw.site_fractions,
        missing_marrow_sites=mw.missing_sites,
        missing_marrow_fraction=mw.missing_fraction,
        notes=tuple(notes),
    )


def combine_structures(
    ct: CTVolume,
    imported: Mapping[str, Structure] | Sequence[Structure],
    *,
    names_map: Mapping[str, str] | None = None,
    landmarks: Landmarks | Mapping[str, object] | None = None,
) -> AnatomyResult:
    """Auto-segmentation with imported structures winning: ``segment(ct, imported=..., names_map=...)``."""
    return segment(ct, landmarks=landmarks, imported=imported, names_map=names_map)


def find_landmarks(ct: CTVolume, structures: dict | None = None) -> Landmarks:
    """Find the axial landmarks and vertebral levels of a CT.

    Parameters
    ----------
    ct
        The CT (HU) on an axial grid.
    structures
        Optional ``"Body"``, ``"Lung_L"``, ``"Lung_R"``, ``"Skeleton"`` structures on the CT grid (e.g.
        from :func:`hbiview.anatomy.segment` or imported); missing ones are segmented here on a coarse
        grid (about 4 mm in-plane), which keeps this call to a second or two.

    Returns
    -------
    Landmarks
        Name -> :class:`~hbiview.anatomy.types.Landmark` for ``vertex``, ``skull_base``, ``lung_apex``,
        ``lung_base``, ``iliac_crest``, ``femoral_heads``, ``knees``, ``ankles``, ``soles`` and ``C1`` ..
        ``S1``; ``z_mm`` is ``None`` for what is not in the scan.
    """
    # work at about 4 mm but never coarser than the CT needs: a whole block factor rounded down (a 2.5 mm
    # CT is searched at 2.5 mm, not at 5 mm where its thin bone would be lost)
    pixel_mm = float(max(ct.geometry.spacing_mm[1], ct.geometry.spacing_mm[2]))
    factor = max(1, int(np.floor(LANDMARK_SPACING_MM / pixel_mm + 1e-6)))
    tissues = segment_tissues(ct, target_spacing_mm=factor * pixel_mm, structures=structures)
    message = coarse_warning(tuple(ct.geometry.spacing_mm), tissues.context)
    if message is not None:
        warn(message)
    return tissues.landmarks
