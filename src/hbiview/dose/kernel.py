"""The Nyholm photon pencil kernel: dose around a pencil beam in water as a function of beam quality.

For a beam of quality ``T`` (TPR20,10) the kernel at depth ``z`` (cm) and radius ``r`` (cm) is

    p(r, z) = (A_z exp(-a_z r) + B_z exp(-b_z r)) / r,

a narrow (primary) and a broad (scatter) component. ``A_z / a_z``, ``B_z / b_z``, ``a_z`` and ``b_z`` follow
Nyholm et al. (Radiother. Oncol. 78 (2006) 347, corrigendum 98 (2011) 286); the 17 x 6 polynomial coefficients
are in ``hbiview/data/nyholm_kernel.csv``. Two closed forms make the kernel cheap and exact to use:

* the integral over the plane (the broad-beam depth dose per unit fluence) is ``2 pi (A_z/a_z + B_z/b_z)``;
* its 2D Fourier transform is ``2 pi (A_z/a_z) / sqrt(1 + (2 pi f / a_z)^2) + (same for B, b)`` (``f`` in
  cycles per cm), so the convolution never has to sample the ``1/r`` singularity.

One change to Nyholm's parameters: in the build-up region ``a_z`` is increased (narrower primary-electron
component, :data:`BUILDUP_NARROWING`); the closed forms above still hold with the changed ``a_z``.

Kernels are for parallel pencils in water; the engine adds divergence, inverse square and density scaling.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np
import numpy.typing as npt
from scipy import integrate, optimize

__all__ = ["KERNEL_TPR_RANGE", "PencilKernel", "coefficients", "kernel_for_tpr"]

#: TPR20,10 range over which the polynomials are used. Beyond it the fits misbehave: their own
#: TPR20,10 (10 x 10 cm field) drifts away from T (0.545 at T = 0.58; 0.790 at T = 0.82).
KERNEL_TPR_RANGE = (0.62, 0.80)

#: Build-up narrowing of the narrow (primary-electron) component: ``a_z`` is multiplied by
#: ``1 + BUILDUP_NARROWING * exp(-z / BUILDUP_LENGTH_MM)``. Electrons reaching a shallow depth were set in
#: motion between the surface and that depth, so they have had less path to spread sideways than at
#: equilibrium; Nyholm's ``a_z`` (linear in depth, about 3.0/cm at every depth) does not describe this.
#: The length is that of the 10 MV electron-contamination fall-off (``data/beam_quality.csv``); the factor is
#: fitted to the measured 10 MV profiles at 15 mm depth (diode, fields 50-200 mm: the 80-20 % penumbra there
#: is 3.3-3.8 mm, the plain kernel gives 4.0 mm even without any source blur). At 15 mm ``a_z`` is 1.45
#: times Nyholm's, at 30 mm 1.10, at 50 mm 1.01; unverified for other energies (same form used).
BUILDUP_NARROWING = 2.0
BUILDUP_LENGTH_MM = 10.0


@lru_cache(maxsize=1)
def coefficients() -> dict[str, np.ndarray]:
    """The Nyholm polynomial coefficients ``c0..c5`` per parameter (``A1`` ... ``b5``)."""
    ref = resources.files("hbiview") / "data" / "nyholm_kernel.csv"
    lines = [ln for ln in ref.read_text().splitlines() if ln and not ln.startswith("#")]
    rows = list(csv.reader(lines))
    return {r[0]: np.array([float(x) for x in r[1:]], dtype=np.float64) for r in rows[1:]}


@dataclass(frozen=True)
class PencilKernel:
    """A depth-dependent pencil kernel in water.

    Parameters
    ----------
    kernel_tpr
        The beam-quality index fed to the Nyholm polynomials (inside :data:`KERNEL_TPR_RANGE`).
    extra_mu_per_cm
        Extra exponential attenuation (1/cm of water-equivalent depth) applied to the whole kernel; non-zero
        only for beams softer than the polynomials' range (Co-60), see :func:`kernel_for_tpr`.
    """

    kernel_tpr: float
    extra_mu_per_cm: float = 0.0

    def parameters(self, depth_mm: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``A_z/a_z``, ``B_z/b_z`` (dimensionless) and ``a_z``, ``b_z`` (1/cm) at water depths (mm)."""
        p = _polynomials(self.kernel_tpr)
        z = np.maximum(np.asarray(depth_mm, dtype=np.float64), 0.0) / 10.0
        att = np.exp(-self.extra_mu_per_cm * z)

        def shape(n1: str, n2: str, n3: str, n4: str, n5: str) -> np.ndarray:
            return (
                p[n1] * (1.0 - np.exp(p[n2] * np.sqrt(z**2 + p[n5] ** 2))) * np.exp(p[n3] * z + p[n4] * z**2)
            )

        a_ratio = shape("A1", "A2", "A3", "A4", "A5") * att
        b_ratio = shape("B1", "B2", "B3", "B4", "B5") * att
        a_z = (p["a2"] + p["a1"] * z) * (1.0 + BUILDUP_NARROWING * np.exp(-z * 10.0 / BUILDUP_LENGTH_MM))
        b_z = shape("b1", "b2", "b3", "b4", "b5")
        return a_ratio, b_ratio, a_z, b_z

    def broad_beam(self, depth_mm: npt.ArrayLike) -> np.ndarray:
        """Dose per unit fluence of an infinitely wide parallel beam at water depths (mm), relative units."""
        a_ratio, b_ratio, _, _ = self.parameters(depth_mm)
        return 2 * np.pi * (a_ratio + b_ratio)

    def square_field_axis(self, depth_mm: float, side_mm: float) -> float:
        """Central-axis dose (same units as :meth:`broad_beam`) of a parallel square field in water."""
        a_ratio, b_ratio, a_z, b_z = (float(x) for x in self.parameters(depth_mm))
        s = side_mm / 20.0  # half side, cm

        def integrand(r: float) -> float:
            angle = 2 * np.pi if r <= s else 2 * np.pi - 8 * np.arccos(min(s / r, 1.0))
            return (a_ratio * a_z * np.exp(-a_z * r) + b_ratio * b_z * np.exp(-b_z * r)) * angle

        inner = integrate.quad(integrand, 0.0, s, limit=200)[0]
        outer = integrate.quad(integrand, s, s * np.sqrt(2.0), limit=200)[0]
        return inner + outer

    def tpr20_10(self) -> float:
        """TPR20,10 this kernel gives for a 10 x 10 cm field (ratio of axis doses at 20 and 10 cm)."""
        return self.square_field_axis(200.0, 100.0) / self.square_field_axis(100.0, 100.0)

    def buildup_length_mm(self) -> float:
        """Depth (mm) at which the broad-beam build-up is ``1 - e^-2`` (86 %) complete.

        The water depth over which the energy set in motion upstream is still arriving: about 8 mm at 6 MV
        and 14 mm at 10 MV (a quarter to a half of the depth of maximum). The convolution engine uses it as
        the upstream reach of the density the photon-scatter component sees.
        """
        return _buildup_length_mm(self)

    def electron_reach_mm(self) -> float:
        """Depth (mm) at which the broad-beam build-up is ``1 - 1/e`` (63 %) complete.

        The e-folding length of the build-up: the share of the dose at a point from electrons set in motion
        more than ``m`` of water upstream falls about as ``exp(-m / reach)``. About 5 mm at 6 MV and 8 mm at
        10 MV. The convolution engine uses it as the upstream reach of the density the primary-electron
        component sees.
        """
        return _buildup_length_mm(self, 1.0)

    def scatter_range_mm(self, depth_mm: float = 100.0) -> float:
        """Reach of the broad (photon-scatter) component in water (mm): ``1 / b_z`` at ``depth_mm``."""
        return 10.0 / float(self.parameters(depth_mm)[3])

    def transfer(
        self,
        depth_mm: float,
        pixel_mm: float,
        shape: tuple[int, int],
        density: float = 1.0,
        *,
        broad_density: float = 1.0,
        part: str = "both",
    ) -> np.ndarray:
        """Fourier transform (``rfft2`` layout) of the pixel-integrated kernel for FFT convolution.

        The result multiplies ``rfft2`` of a fluence map sampled at ``pixel_mm`` (fluence constant over each
        pixel); the inverse transform is the dose per unit fluence at the pixel centres. Aliases of the first
        ring are summed for the narrow component so that the pixel integral of the ``1/r`` peak is right.

        Parameters
        ----------
        depth_mm
            Water-equivalent depth (mm).
        pixel_mm
            Physical pixel size at this depth (mm).
        shape
            Padded 2D grid shape ``(ny, nx)``.
        density
            Relative electron density seen by the narrow (primary-electron) component: its lateral spread
            scales with ``1 / density`` while its integral stays the same (O'Connor's scaling theorem).
        broad_density
            The same for the broad (photon-scatter) component: scattered photons travel ``1 / density``
            times further between interactions, so in a uniform medium of that density the scatter kernel is
            the water kernel stretched by ``1 / density`` (and its integral, the broad-beam dose at the same
            radiological depth, unchanged).
        part
            ``"both"`` (the kernel), ``"narrow"`` or ``"broad"`` (one component only).

        Returns
        -------
        numpy.ndarray
            Complex array of shape ``(ny, nx // 2 + 1)``.
        """
        if part not in ("both", "narrow", "broad"):
            raise ValueError(f"part must be 'both', 'narrow' or 'broad', got {part!r}")
        a_ratio, b_ratio, a_z, b_z = (float(x) for x in self.parameters(depth_mm))
        out = np.zeros((shape[0], shape[1] // 2 + 1), dtype=np.float32)
        if part in ("both", "narrow"):
            # the first ring of aliases summed (mx, my = -1, 0, 1): a 1/r peak has power up to the Nyquist
            # frequency and beyond
            step_cm = pixel_mm * density / 10.0  # pixel size in water-equivalent cm for the electrons
            _add_lorentz(out, shape[1], a_ratio, a_z, step_cm, aliases=(-1, 0, 1))
        if part in ("both", "broad"):
            _add_lorentz(out, shape[1], b_ratio, b_z, pixel_mm * broad_density / 10.0, aliases=(0,))
        out *= np.float32(2 * np.pi)
        return out


def _add_lorentz(
    out: np.ndarray, nx: int, weight: float, c_per_cm: float, step_cm: float, aliases: tuple[int, ...]
) -> None:
    """Add ``weight / sqrt(1 + (2 pi f / c)^2) sinc(fx step) sinc(fy step)`` (``rfft2`` layout) to ``out``.

    The transform of ``weight c exp(-c r) / r`` integrated over pixels of ``step_cm``, with the aliases
    ``f - m / step`` for each ``m`` in ``aliases`` along both axes; ``nx`` is the full (real) width. The
    sinc factors are separable and taken per axis; the 2D part is done in place in float32 (relative error
    about 1e-7), several times faster than broadcasting in float64.
    """
    fy = np.fft.fftfreq(out.shape[0], d=step_cm)
    fx = np.fft.rfftfreq(nx, d=step_cm)
    c2 = (2 * np.pi / c_per_cm) ** 2
    columns = [
        (
            (c2 * (fx - m / step_cm) ** 2).astype(np.float32),
            np.sinc((fx - m / step_cm) * step_cm).astype(np.float32),
        )
        for m in aliases
    ]
    term = np.empty_like(out)
    for m in aliases:
        gy = fy - m / step_cm
        rows = (1.0 + c2 * gy**2).astype(np.float32)[:, None]
        row_sinc = (weight * np.sinc(gy * step_cm)).astype(np.float32)[:, None]
        for col_g2, col_sinc in columns:
            np.add(rows, col_g2[None, :], out=term)
            np.sqrt(term, out=term)
            np.divide(col_sinc[None, :], term, out=term)
            term *= row_sinc
            out += term


@lru_cache(maxsize=64)
def _polynomials(kernel_tpr: float) -> dict[str, float]:
    """Each Nyholm parameter's polynomial evaluated at the quality index ``kernel_tpr``."""
    return {k: float(np.polynomial.polynomial.polyval(kernel_tpr, v)) for k, v in coefficients().items()}


@lru_cache(maxsize=16)
def _buildup_length_mm(kernel: PencilKernel, e_folds: float = 2.0) -> float:
    """Depth (mm) where the broad-beam build-up is ``1 - exp(-e_folds)`` complete."""
    z = np.arange(0.0, 100.0, 0.1)
    broad = kernel.broad_beam(z)
    peak = int(np.argmax(broad))
    level = broad[0] + (1.0 - np.exp(-e_folds)) * (broad[peak] - broad[0])
    return float(z[int(np.argmax(broad >= level))])


def kernel_for_tpr(tpr20_10: float) -> PencilKernel:
    """The pencil kernel whose own TPR20,10 (10 x 10 cm field) equals ``tpr20_10``.

    Inside the polynomials' range the Nyholm index is adjusted (by root finding) so that the kernel
    reproduces the requested TPR20,10 exactly, a correction of at most about 0.01. Below the range (Co-60,
    TPR20,10 0.572) the kernel shape of the softest valid index is used and an extra exponential
    attenuation is fitted so that its TPR20,10 matches: the lateral spread and build-up are then those of a
    roughly 4 MV beam, the depth dependence that of the requested quality.

    Parameters
    ----------
    tpr20_10
        The beam-quality index.

    Returns
    -------
    PencilKernel
    """
    low, high = KERNEL_TPR_RANGE
    target = float(tpr20_10)
    at_low = PencilKernel(low).tpr20_10()
    at_high = PencilKernel(high).tpr20_10()
    if at_low <= target <= at_high:
        t = optimize.brentq(lambda t: PencilKernel(t).tpr20_10() - target, low, high, xtol=1e-6)
        return PencilKernel(float(t))
    if target < at_low:
        return PencilKernel(low, extra_mu_per_cm=float(np.log(at_low / target) / 10.0))
    raise ValueError(f"TPR20,10 {target} is above the kernel range (at most {at_high:.3f})")
