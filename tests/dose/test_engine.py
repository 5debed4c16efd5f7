"""The pieces of the dose engine: kernel closed forms, fluence, registry, dose grids and volume files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.fft

from hbiview.dose import available_engines, compute_dose, compute_dose_result, get_engine
from hbiview.dose.beam_quality import beam_quality, kernel_for_energy
from hbiview.dose.convolution import NearFarDose
from hbiview.dose.fluence import (
    fluence_map,
    pixel_edge_profile,
    polygon_coverage,
    primary_collimator_transmission,
)
from hbiview.dose.kernel import KERNEL_TPR_RANGE, PencilKernel, kernel_for_tpr
from hbiview.errors import InputError
from hbiview.geometry import Geometry
from hbiview.io.volume_files import write_nifti, write_volume, write_vti
from hbiview.plans import Beam, Block, Normalization, Plan
from hbiview.sample import lung_slab_phantom, water_phantom
from hbiview.volume import DoseGrid

# these tests take seconds, or share a fixture (or cached run) that does: measured with --durations
pytestmark = pytest.mark.slow


def test_kernel_transfer_at_zero_frequency_is_the_broad_beam_integral() -> None:
    kernel = PencilKernel(0.74)
    for depth in (0.0, 20.0, 100.0, 300.0):
        transfer = kernel.transfer(depth, 2.0, (64, 64))
        # the 2D integral of (A e^-ar + B e^-br)/r is 2 pi (A/a + B/b) in closed form; the transfer is
        # computed in float32 (9 alias terms summed): a few units of its 1.2e-7 rounding
        assert transfer[0, 0].real == pytest.approx(float(kernel.broad_beam(depth)), rel=1e-6)


def test_fft_convolution_matches_radial_integration_of_a_square_field() -> None:
    kernel = PencilKernel(0.74)
    pixel, n = 1.0, 512
    x = (np.arange(n) - n // 2) * pixel
    fluence = ((np.abs(x)[:, None] <= 50.0) & (np.abs(x)[None, :] <= 50.0)).astype(float)
    # edge pixels straddle the jaw: count them half (the box is 101 pixels wide, the field 100 mm)
    edge = (np.abs(x) == 50.0).astype(float)
    fluence -= 0.5 * (
        edge[:, None] * (np.abs(x)[None, :] <= 50.0) + edge[None, :] * (np.abs(x)[:, None] <= 50.0)
    )
    fluence[np.ix_(np.abs(x) == 50.0, np.abs(x) == 50.0)] = 0.25
    for depth in (20.0, 100.0, 200.0):
        spectrum = scipy.fft.rfft2(fluence) * kernel.transfer(depth, pixel, (n, n))
        centre = scipy.fft.irfft2(spectrum, s=(n, n))[n // 2, n // 2]
        # independent check: 1D quadrature over radius of the same kernel (square_field_axis); the FFT sums
        # the pixel-integrated kernel, agreement within 0.5 % (pixel integration of the 1/r peak)
        assert centre == pytest.approx(kernel.square_field_axis(depth, 100.0), rel=0.005)


def test_kernel_reproduces_the_requested_beam_quality() -> None:
    for tpr in (0.667, 0.70, 0.74, 0.78):
        # the Nyholm index is adjusted so that the kernel's own TPR20,10 (10 x 10 cm) is the requested one
        assert kernel_for_tpr(tpr).tpr20_10() == pytest.approx(tpr, abs=1e-4)
    cobalt = kernel_for_energy("Co60")
    # Co-60 (0.572) lies below the polynomials' range: softest valid shape plus an extra attenuation
    assert cobalt.kernel_tpr == KERNEL_TPR_RANGE[0] and cobalt.extra_mu_per_cm > 0
    assert cobalt.tpr20_10() == pytest.approx(beam_quality("Co60").tpr20_10, abs=1e-3)


def test_fluence_jaws_blocks_and_penumbra() -> None:
    u = np.arange(-100.0, 100.5, 1.0)
    beam = Beam(
        "10MV", field_mm=(100.0, 60.0), blocks=(Block.rectangle(0, -100, 100, 100, transmission=0.5),)
    )
    fluence = fluence_map(beam, u, u, source_sigma_mm=1.0)
    centre = len(u) // 2
    # the jaw edge is at half height of the blurred step (erf), the block halves the fluence behind it
    assert fluence[centre, centre - 50] == pytest.approx(0.5, abs=1e-6)
    assert fluence[centre, centre - 20] == pytest.approx(1.0, abs=1e-6)
    assert fluence[centre, centre + 20] == pytest.approx(0.5, abs=1e-6)
    assert fluence[centre + 40, centre - 20] == pytest.approx(0.0, abs=1e-6)  # outside the 60 mm y jaws
    # a triangle's pixel coverage adds up to its area (1/2 x 40 x 30 mm2), within the supersampling error
    cover = polygon_coverage(((0.0, 0.0), (40.0, 0.0), (0.0, 30.0)), u, u, supersample=8)
    assert cover.sum() == pytest.approx(600.0, rel=0.01)


def test_jaw_edges_are_pixel_averaged_exactly() -> None:
    for offset in (0.0, 1.3, 2.5):
        x = np.arange(-150.0, 150.1, 5.0) + offset
        profile = pixel_edge_profile(x, 50.5, 0.6, 5.0)
        # the pixel means integrate to the jaw opening (101 mm) wherever the edges fall between pixel
        # centres: exact integral of the erf edge, float64 rounding only
        assert profile.sum() * 5.0 == pytest.approx(101.0, abs=1e-9)
    # a pixel whose centre lies on the edge is half covered (symmetry of the blurred step)
    assert pixel_edge_profile(np.array([50.5]), 50.5, 0.6, 5.0)[0] == pytest.approx(0.5, abs=1e-12)
    # the primary collimator's circle: half transmission on the radius, none far outside, all far inside
    t = primary_collimator_transmission(np.array([0.0, 250.0, 300.0]), np.array([0.0]), 250.0, 6.0)
    assert t[0].tolist() == pytest.approx([1.0, 0.5, 0.0], abs=1e-9)


def test_field_width_does_not_depend_on_a_coarse_grid() -> None:
    """A 101 mm field's 50 % width at 100 mm depth, SSD 1000, computed on a 5 mm grid (issue 19, item 7)."""
    ct = water_phantom(size_mm=(400, 320, 400), spacing_mm=4.0)
    beam = Beam("10MV", 0.0, 0.0, (101.0, 101.0), ssd_mm=1000.0, isocentre_lps_mm=(0.0, -160.0, 0.0))
    plan = Plan("edge", (beam,), 1.0, 1, Normalization("depth", depth_mm=100.0), False, 5.0)
    model = compute_dose_result(ct, plan, grid_mm=5.0).model
    x = np.arange(-100.0, 100.01, 0.25)
    pts = np.stack([x, np.full_like(x, -60.0), np.zeros_like(x)], axis=1)
    profile = model.per_fraction_at(pts) / model.per_fraction_at(np.array([[0.0, -60.0, 0.0]]))[0]
    inside = x[profile >= 0.5]
    width = inside.max() - inside.min()
    # geometric width 101 x 1100 / 1000 = 111.1 mm; within 1.5 mm (measured 112.0 mm: the kernel's own
    # spread and the 5 mm staircase between pixel centres; with edges sampled at pixel centres it was
    # 113.7 mm). The 0.25 mm reading step adds at most 0.5 mm.
    assert abs(width - 111.1) <= 1.5, width


def test_engine_registry() -> None:
    assert "convolution" in available_engines()
    with pytest.raises(InputError, match="unknown dose engine"):
        get_engine("monte-carlo")


def _small_plan(heterogeneity: bool, energy: str = "6MV") -> Plan:
    beam = Beam(energy, 0.0, 0.0, (100.0, 100.0), ssd_mm=1000.0, isocentre_lps_mm=(0.0, -100.0, 0.0))
    return Plan("small", (beam,), 2.0, 3, Normalization("depth", depth_mm=50.0), heterogeneity, 5.0)


def test_dose_grid_values_units_and_zero_outside_the_body() -> None:
    ct = water_phantom(size_mm=(200, 200, 200), spacing_mm=5.0)
    result = compute_dose_result(ct, _small_plan(True))
    dose = result.dose
    assert dose.array.dtype == np.float32 and dose.fractions == 3
    assert (
        "small" in dose.description
        and "convolution" in dose.description
        and "heterogeneity on" in dose.description
    )
    # total dose = 2 Gy x 3 at the prescription point (the model is exact there by construction)
    assert result.prescription_dose_gy == pytest.approx(2.0, rel=1e-5)
    # the grid covers the body plus 5 mm, so there is air around it: no dose in air
    z, y, x = dose.geometry.axis_coordinates_mm()
    air = (
        (np.abs(x)[None, None, :] > 101) | (np.abs(y)[None, :, None] > 101) | (np.abs(z)[:, None, None] > 101)
    )
    assert air.any() and np.all(dose.array[air] == 0.0)
    # in water, heterogeneity on and off are the same calculation
    off = compute_dose(ct, _small_plan(True), heterogeneity=False)
    np.testing.assert_allclose(off.array, dose.array, rtol=1e-5, atol=1e-6)


def test_lung_density_widens_the_kernel_only_where_it_matters() -> None:
    # a 10 x 10 cm 18 MV field in a 0.25 lung slab (5-15 cm deep): 5 cm into the lung the central dose is
    # lower than the radiological depth alone predicts (lateral electron disequilibrium: pencil-beam scaling
    # is what issue 12.1 found too high), 4 cm beyond the slab it is higher than in water (less attenuation)
    ct = lung_slab_phantom(size_mm=(200, 300, 200), spacing_mm=5.0, slab_depth_mm=50, slab_thickness_mm=100)
    plan = _small_plan(True, "18MV")
    plan = Plan(
        plan.name,
        (Beam("18MV", 0.0, 0.0, (100.0, 100.0), ssd_mm=1000.0, isocentre_lps_mm=(0, -150, 0)),),
        2.0,
        1,
        Normalization("depth", depth_mm=30.0),
        True,
        2.5,
    )
    on = compute_dose_result(ct, plan).model.beams[0]
    off = compute_dose_result(ct, plan, heterogeneity=False).model.beams[0]
    in_lung, radiological, beyond = 100.0, 50.0 + 0.25 * 50.0, 190.0
    points = np.array([[0.0, -150.0 + d, 0.0] for d in (in_lung, radiological, beyond)])
    d_on, d_off = on.at(points), off.at(points)
    # pencil-beam scaling: the water dose at the radiological depth, moved to the same distance from source
    pencil = d_off[1] * ((1000.0 + radiological) / (1000.0 + in_lung)) ** 2
    # measured: 1.033 against 1.080 of the water dose (4.3 % below); EGSnrc puts the 6 MV 5 x 5 and 20 x 20
    # fields 5 cm into the same slab 5.3 / 5.8 % below pencil-beam scaling (test_lung_montecarlo.py), so
    # asking for 1 % leaves room for the model while the effect stays well above it
    assert d_on[0] < 0.99 * pencil, (d_on[0] / d_off[0], pencil / d_off[0])
    assert d_on[2] > d_off[2], d_on[2] / d_off[2]


def test_volume_files_round_trip(tmp_path: Path) -> None:
    vtk = pytest.importorskip("vtk")
    nib = pytest.importorskip("nibabel")
    from vtk.util.numpy_support import vtk_to_numpy

    direction = np.array([[0.0, 0.0, 1.0], [0.0, -1.0, 0.0], [1.0, 0.0, 0.0]])  # rows run anterior
    geometry = Geometry.from_spacing((4, 5, 6), (3.0, 2.0, 1.5), (10.0, 20.0, 30.0), direction)
    values = np.arange(120, dtype=np.float32).reshape(4, 5, 6)
    dose = DoseGrid(geometry, values, 2, "test dose")
    reader = vtk.vtkXMLImageDataReader()
    reader.SetFileName(str(write_vti(dose, tmp_path / "d.vti")))
    reader.Update()
    image = reader.GetOutput()
    assert image.GetDimensions() == (6, 5, 4)
    np.testing.assert_array_equal(vtk_to_numpy(image.GetPointData().GetArray("dose_gy")), values.ravel())
    point = [0.0, 0.0, 0.0]
    image.TransformIndexToPhysicalPoint(1, 2, 3, point)  # VTK (i, j, k) = our (x, y, z) indices
    np.testing.assert_allclose(point, geometry.index_to_lps([3, 2, 1]))
    image_nii = nib.load(str(write_nifti(dose, tmp_path / "d.nii.gz")))
    np.testing.assert_array_equal(np.asarray(image_nii.dataobj), values.transpose(2, 1, 0))
    lps = geometry.index_to_lps([3, 2, 1])
    # NIfTI world space is RAS: x and y negated
    np.testing.assert_allclose(image_nii.affine @ [1, 2, 3, 1], [-lps[0], -lps[1], lps[2], 1.0])
    with pytest.raises(InputError, match="unknown volume format"):
        write_volume(dose, tmp_path / "d.mha")
    with pytest.raises(Exception, match="exists"):
        write_vti(dose, tmp_path / "d.vti")


@pytest.mark.parametrize(
    ("gantry", "collimator", "field"),
    [(0.0, 0.0, (100.0, 60.0)), (90.0, 90.0, (80.0, 120.0)), (180.0, 0.0, (40.0, 40.0))],
)
def test_whole_grid_sampling_equals_sampling_voxel_by_voxel(
    gantry: float, collimator: float, field: tuple[float, float]
) -> None:
    # a beam along the grid's axes samples a whole dose grid plane by plane (BevDose.on_grid); the values must
    # be the trilinear interpolation that sampling each voxel gives (map_coordinates), to float32 rounding:
    # 1e-5 of the maximum. The 40 mm field leaves most of the phantom to the far (out-of-field) grid.
    ct = lung_slab_phantom((200, 200, 200), 5.0, slab_depth_mm=40.0, slab_thickness_mm=60.0)
    beam = Beam("10MV", gantry, collimator, field, isocentre_lps_mm=(3.0, 7.0, -11.0))
    plan = Plan("grid", (beam,), 2.0, 1, Normalization("midplane"), True, 5.0)
    model = compute_dose_result(ct, plan).model
    geometry = Geometry.box(np.array([-113.0, -108.0, -104.0]), np.array([109.0, 111.0, 102.0]), 4.0)
    whole = model.per_fraction_on_grid(geometry)
    assert whole is not None
    index = np.stack(np.unravel_index(np.arange(whole.size), geometry.shape), axis=1).astype(np.float64)
    each = model.per_fraction_at_indices(geometry, index).reshape(geometry.shape)
    assert each.max() > 1.5  # the beam crosses the grid
    np.testing.assert_allclose(whole, each, rtol=0, atol=1e-5 * float(each.max()))
    if field[0] < 50:
        assert isinstance(model.beams[0], NearFarDose)  # the far grid's part is sampled too


def test_whole_grid_sampling_refuses_an_oblique_beam() -> None:
    # a beam at gantry 30 crosses the grid's planes obliquely: only voxel-by-voxel sampling applies
    ct = water_phantom(size_mm=(200, 200, 200), spacing_mm=5.0)
    beam = Beam("6MV", 30.0, 0.0, (80.0, 80.0), isocentre_lps_mm=(0.0, 0.0, 0.0))
    plan = Plan("oblique", (beam,), 2.0, 1, Normalization("midplane"), True, 5.0)
    model = compute_dose_result(ct, plan).model
    assert model.per_fraction_on_grid(model.density_geometry) is None


def test_a_beam_whose_fluence_changes_reuses_the_prepared_grid(monkeypatch: pytest.MonkeyPatch) -> None:
    # the density work along the rays is kept per density, set-up and grid; a new fluence on the same grid
    # (a block added here; moved jaws in the viewer) must reuse it and give exactly what a fresh computation
    # gives (bit for bit: the same arithmetic on the same arrays)
    from hbiview.dose import convolution

    ct = lung_slab_phantom((200, 200, 200), 5.0, slab_depth_mm=40.0, slab_thickness_mm=60.0)
    open_beam = Beam("10MV", 0.0, 0.0, (100.0, 100.0), isocentre_lps_mm=(0.0, 0.0, 0.0))
    blocked = Beam(
        "10MV", 0.0, 0.0, (100.0, 100.0), blocks=(Block.rectangle(0, 0, 60, 60),), isocentre_lps_mm=(0, 0, 0)
    )

    def plan(beam: Beam, heterogeneity: bool = True) -> Plan:
        return Plan("p", (beam,), 2.0, 1, Normalization("midplane"), heterogeneity, 5.0)

    prepared = []
    original = convolution.ConvolutionEngine._prepare

    def counting(self: convolution.ConvolutionEngine, *args: object, **kwargs: object) -> object:
        prepared.append(args[0])
        return original(self, *args, **kwargs)  # type: ignore[arg-type]

    convolution._PREPARED.clear()
    monkeypatch.setattr(convolution.ConvolutionEngine, "_prepare", counting)
    compute_dose(ct, plan(open_beam))
    first = len(prepared)
    kept = compute_dose(ct, plan(blocked))
    assert len(prepared) == first  # nothing prepared again
    convolution._PREPARED.clear()
    fresh = compute_dose(ct, plan(blocked))
    assert len(prepared) == 2 * first
    np.testing.assert_array_equal(kept.array, fresh.array)
    # another density (water inside: heterogeneity off) is prepared anew
    compute_dose(ct, plan(blocked, heterogeneity=False))
    assert len(prepared) == 3 * first


def test_prepared_grids_stay_within_their_budget_and_go_with_their_density() -> None:
    # the kept beam grids may not grow without bound (oldest dropped first beyond the budget) nor outlive the
    # density they were prepared on
    import gc

    from hbiview.dose.convolution import _PreparedCache

    class Prepared:  # stands in for a prepared grid of 40 bytes
        def nbytes(self) -> int:
            return 40

    cache = _PreparedCache(budget_mb=100e-6)  # 100 bytes: two grids
    density = np.zeros(3, dtype=np.float32)
    for key in ("a", "b", "c"):
        cache.put(density, (key,), Prepared())  # type: ignore[arg-type]
    assert cache.get(density, ("a",)) is None  # the oldest, dropped
    assert cache.get(density, ("b",)) is not None and cache.get(density, ("c",)) is not None
    assert cache.get(np.zeros(3, dtype=np.float32), ("c",)) is None  # another array is another density
    del density
    gc.collect()
    assert not cache._entries  # nothing kept for a density that is gone
