"""Mask files (NIfTI in any orientation, NRRD) and TotalSegmentator folders."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from anatomy_truth import dice, truth_sites

from hbiview import labels as lb
from hbiview.errors import InputError, MissingInputError
from hbiview.geometry import Geometry
from hbiview.io.masks import read_mask, read_totalsegmentator, totalsegmentator_role

# these tests take seconds, or share a fixture (or cached run) that does: measured with --durations
pytestmark = pytest.mark.slow

nib = pytest.importorskip("nibabel")

RAS = np.diag([-1.0, -1.0, 1.0])


def _nifti_affine(geometry: Geometry) -> np.ndarray:
    """RAS affine of the NIfTI array ``array.transpose(2, 1, 0)`` (indices i, j, k)."""
    a = np.eye(4)
    a[:3, :3] = RAS @ geometry.affine[:3, [2, 1, 0]]
    a[:3, 3] = RAS @ geometry.affine[:3, 3]
    return a


def _save_nifti(mask: np.ndarray, geometry: Geometry, path) -> None:
    nib.save(nib.Nifti1Image(mask.transpose(2, 1, 0).astype(np.uint8), _nifti_affine(geometry)), str(path))


@pytest.fixture(scope="module")
def grid_and_mask():
    g = Geometry.from_spacing((12, 20, 24), (3.0, 2.0, 1.5), (-20.0, -30.0, 40.0))
    mask = np.zeros(g.shape, dtype=bool)
    mask[2:7, 4:12, 5:20] = True
    mask[3, 6:9, 7:9] = False  # a hole, so flips would show
    return g, mask


def test_nifti_with_flipped_axes(tmp_path, grid_and_mask):
    g, mask = grid_and_mask
    data = mask.transpose(2, 1, 0).astype(np.uint8)
    a = _nifti_affine(g)
    # flip the first NIfTI axis (x) and the third (z): the affine carries it, the voxels must land back
    flipped = data[::-1, :, ::-1]
    a2 = a.copy()
    a2[:3, 0] = -a[:3, 0]
    a2[:3, 2] = -a[:3, 2]
    a2[:3, 3] = a[:3, 3] + a[:3, 0] * (data.shape[0] - 1) + a[:3, 2] * (data.shape[2] - 1)
    path = tmp_path / "flipped.nii.gz"
    nib.save(nib.Nifti1Image(flipped, a2), str(path))
    s = read_mask(path, g)
    assert np.array_equal(s.mask, mask)  # exact: the same voxel centres, nearest neighbour
    assert s.name == "flipped"
    # on its own grid the volume is the same (exact voxel count x voxel volume)
    assert read_mask(path).volume_cc == pytest.approx(mask.sum() * g.voxel_volume_cc)


def test_nrrd_written_by_simpleitk(tmp_path, grid_and_mask):
    sitk = pytest.importorskip("SimpleITK")
    g, mask = grid_and_mask
    img = sitk.GetImageFromArray(mask.astype(np.uint8))  # SimpleITK: (z, y, x) array, LPS space
    img.SetSpacing(tuple(float(v) for v in g.spacing_mm[::-1]))
    img.SetOrigin(tuple(float(v) for v in g.origin_mm))
    path = tmp_path / "mask.nrrd"
    sitk.WriteImage(img, str(path), True)
    assert np.array_equal(read_mask(path, g).mask, mask)


def test_nrrd_in_ras_space(tmp_path, grid_and_mask):
    g, mask = grid_and_mask
    sp = g.spacing_mm
    o = RAS @ g.origin_mm
    header = (
        "NRRD0004\ntype: uint8\ndimension: 3\nspace: right-anterior-superior\n"
        f"sizes: {g.shape[2]} {g.shape[1]} {g.shape[0]}\n"
        f"space directions: ({-sp[2]},0,0) (0,{-sp[1]},0) (0,0,{sp[0]})\n"
        f"encoding: raw\nspace origin: ({o[0]},{o[1]},{o[2]})\n\n"
    )
    path = tmp_path / "ras.nrrd"
    path.write_bytes(header.encode() + mask.astype(np.uint8).tobytes())
    assert np.array_equal(read_mask(path, g).mask, mask)


def test_bad_mask_files(tmp_path):
    with pytest.raises(MissingInputError):
        read_mask(tmp_path / "absent.nii.gz")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(InputError, match="unknown mask format"):
        read_mask(tmp_path / "notes.txt")
    (tmp_path / "broken.nii.gz").write_bytes(b"not a nifti")
    with pytest.raises(InputError, match="not a readable NIfTI"):
        read_mask(tmp_path / "broken.nii.gz")


def test_totalsegmentator_names():
    assert totalsegmentator_role("lung_middle_lobe_right") == "Lung_R"
    assert totalsegmentator_role("lung_upper_lobe_left") == "Lung_L"
    assert totalsegmentator_role("vertebrae_T12") == "Bone_thoracic_spine"
    assert totalsegmentator_role("vertebrae_S1") == "Bone_sacrum"
    assert totalsegmentator_role("rib_right_11") == "Bone_ribs"
    assert totalsegmentator_role("hip_left") == "Bone_pelvis_os_coxae"
    assert totalsegmentator_role("clavicula_right") == "Bone_clavicles"
    assert totalsegmentator_role("femur_left") == "Bone_femora"
    assert totalsegmentator_role("liver") is None


def _write_totalsegmentator(phantom, folder) -> None:
    """A TotalSegmentator-like folder from the phantom's ground truth (one NIfTI per structure)."""
    labels, g = phantom.labels, phantom.geometry
    z, _, x = g.axis_coordinates_mm()
    zz = z[:, None, None]
    left = (x > 0)[None, None, :]

    def bone(*sites):
        values = [lb.cortical_label(s) for s in sites] + [lb.cancellous_label(s) for s in sites]
        return np.isin(labels, values)

    out = {}
    for side, value in (("left", 4), ("right", 5)):
        lung = labels == value
        mid = np.median(z[np.nonzero(lung)[0]])
        out[f"lung_upper_lobe_{side}"] = lung & (zz >= mid)
        out[f"lung_lower_lobe_{side}"] = lung & (zz < mid)
    spine = bone("cervical_spine", "thoracic_spine", "lumbar_spine")
    levels = [n for n in phantom.vertebrae_mm if n != "S1"]
    centres = np.array([phantom.vertebrae_mm[n] for n in levels])
    edges = np.concatenate([[np.inf], (centres[:-1] + centres[1:]) / 2, [-np.inf]])
    for n, name in enumerate(levels):
        out[f"vertebrae_{name}"] = spine & (zz < edges[n]) & (zz >= edges[n + 1])
    out["sacrum"] = bone("sacrum")
    ribs = bone("ribs")
    rib_z = z[np.nonzero(ribs)[0]]
    bands = np.linspace(rib_z.max() + 1, rib_z.min() - 1, 13)
    for n in range(12):
        band = ribs & (zz < bands[n]) & (zz >= bands[n + 1])
        out[f"rib_left_{n + 1}"] = band & left
        out[f"rib_right_{n + 1}"] = band & ~left
    for ts, sites in (
        ("hip", ("pelvis_os_coxae",)),
        ("scapula", ("scapulae",)),
        ("clavicula", ("clavicles",)),
        ("humerus", ("humeri_upper_half", "humeri_lower_half")),
        ("femur", ("femora_upper_half", "femora_lower_half")),
    ):
        b = bone(*sites)
        out[f"{ts}_left"] = b & left
        out[f"{ts}_right"] = b & ~left
    out["sternum"] = bone("sternum")
    out["skull"] = bone("cranium", "mandible")
    out["liver"] = labels == 8  # not a role: ignored
    for name, mask in out.items():
        _save_nifti(mask, g, folder / f"{name}.nii.gz")


def test_totalsegmentator_folder_gives_exact_sites(tmp_path, phantom):
    from hbiview.anatomy import segment

    _write_totalsegmentator(phantom, tmp_path)
    roles = read_totalsegmentator(tmp_path, phantom.geometry)
    assert {"Lung_L", "Lung_R", "Lungs", "Skeleton", "Bone_femora_upper_half", "Bone_ribs"} <= set(roles)
    # lobes written from the truth come back exactly (same grid, nearest neighbour)
    assert np.array_equal(roles["Lung_L"].mask, phantom.labels == 4)
    # the femur split at half its length matches the phantom's own upper half to a slice or two (Dice 0.95)
    true_upper = np.isin(
        phantom.labels, [lb.cortical_label("femora_upper_half"), lb.cancellous_label("femora_upper_half")]
    )
    assert dice(roles["Bone_femora_upper_half"].mask, true_upper) >= 0.95
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = segment(phantom.ct, imported=roles)
    truth = truth_sites(phantom.labels)
    both = (truth > 0) & (result.site_labels > 0)
    # TotalSegmentator's skull includes the mandible, so mandible marrow is counted as cranium; every other
    # site comes from the masks: >= 98 % right (misses: femur halves a slice apart)
    mandible = truth == lb.MARROW_SITES.index("mandible") + 1
    ok = result.site_labels[both & ~mandible] == truth[both & ~mandible]
    assert ok.mean() >= 0.98
    assert "mandible" in result.missing_marrow_sites
    assert any("imported bone masks" in n for n in result.notes)
