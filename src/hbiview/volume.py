"""Immutable values on a :class:`~hbiview.geometry.Geometry`: CT, dose and structures.

Arrays are read-only and indexed ``(z, y, x)``; transformations (:meth:`Volume.with_array`,
:meth:`Volume.resampled`) return new objects.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from types import MappingProxyType
from typing import Any, ClassVar, TypeVar

import numpy as np
import numpy.typing as npt

from hbiview.errors import GeometryError
from hbiview.geometry import Geometry

__all__ = ["CTVolume", "DoseGrid", "Structure", "Volume", "resample_array"]

V = TypeVar("V", bound="Volume")


def _frozen_array(array: npt.ArrayLike, dtype: npt.DTypeLike | None = None) -> np.ndarray:
    """A read-only view (no copy): the value object never changes, whoever holds the input."""
    out = np.asarray(array, dtype=dtype).view()
    out.setflags(write=False)
    return out


def resample_array(
    array: np.ndarray,
    source: Geometry,
    target: Geometry,
    order: int = 1,
    fill_value: float = 0.0,
) -> np.ndarray:
    """Resample a ``(z, y, x)`` array from one grid onto another (same patient space).

    Parameters
    ----------
    array
        Values on ``source``.
    source, target
        Grids; ``target`` may have any spacing, extent and orientation.
    order
        Spline order: 0 nearest neighbour (labels, masks), 1 trilinear (CT, dose).
    fill_value
        Value given to target voxels outside ``source``.

    Returns
    -------
    numpy.ndarray
        Values on ``target``, float32 for ``order >= 1`` and the input dtype for ``order == 0``.
    """
    if (
        source.frame_of_reference_uid
        and target.frame_of_reference_uid
        and source.frame_of_reference_uid != target.frame_of_reference_uid
    ):
        raise GeometryError(
            "cannot resample between different frames of reference "
            f"({source.frame_of_reference_uid} vs {target.frame_of_reference_uid})"
        )
    if source.isclose(target, atol_mm=1e-4):
        return np.array(array, copy=True)
    from scipy import ndimage  # imported here: 0.2 s that CLI commands not resampling should not pay

    matrix = target.map_indices_from(source)
    values = array if order == 0 else np.asarray(array, dtype=np.float32)
    linear = matrix[:3, :3]
    if order >= 1 and np.allclose(linear, np.diag(np.diag(linear)), atol=1e-9):
        # parallel axes (the usual case): scipy's separable path, several times faster and the same values
        # to rounding (its nearest-neighbour ties fall differently, so labels keep the general path)
        linear = np.diag(linear)
    return ndimage.affine_transform(
        values,
        linear,
        offset=matrix[:3, 3],
        output_shape=target.shape,
        order=order,
        mode="constant",
        cval=fill_value,
        prefilter=False,
    )


@dataclass(frozen=True, eq=False)
class Volume:
    """An array of values on a grid.

    Parameters
    ----------
    geometry
        The grid; ``array.shape`` must equal ``geometry.shape``.
    array
        The values, indexed ``(z, y, x)``; stored read-only.
    """

    geometry: Geometry
    array: np.ndarray

    def __post_init__(self) -> None:
        array = _frozen_array(self.array)
        if array.shape != self.geometry.shape:
            raise GeometryError(f"array shape {array.shape} does not match grid shape {self.geometry.shape}")
        object.__setattr__(self, "array", array)

    def with_array(self: V, array: npt.ArrayLike) -> V:
        """Same geometry and metadata, new values."""
        return replace(self, array=np.asarray(array))

    def resampled(self: V, target: Geometry, order: int = 1, fill_value: float | None = None) -> V:
        """This volume on another grid (trilinear by default).

        Parameters
        ----------
        target
            The new grid.
        order
            Interpolation order (0 nearest, 1 trilinear).
        fill_value
            Value outside this volume; defaults to the class's natural background.
        """
        fill = self._background if fill_value is None else fill_value
        values = resample_array(self.array, self.geometry, target, order=order, fill_value=fill)
        return replace(self, geometry=target, array=values.astype(self._resampled_dtype(order), copy=False))

    _background: ClassVar[float] = 0.0

    def _resampled_dtype(self, order: int) -> np.dtype:
        return np.dtype(np.float32)


@dataclass(frozen=True, eq=False)
class CTVolume(Volume):
    """A CT image in Hounsfield units (int16 or float32, never float64).

    Parameters
    ----------
    geometry, array
        See :class:`Volume`.
    metadata
        Descriptive DICOM attributes (``PatientName``, ``StudyDescription``, ``SeriesInstanceUID``,
        ``Modality``, ``SeriesDescription``, ``source_path`` ...), as strings.
    """

    metadata: Mapping[str, Any] = field(default_factory=dict)
    _background: ClassVar[float] = -1000.0

    def __post_init__(self) -> None:
        array = np.asarray(self.array)
        if array.dtype not in (np.int16, np.float32):
            array = array.astype(np.float32)
        object.__setattr__(self, "array", array)
        object.__setattr__(self, "metadata", MappingProxyType(dict(self.metadata)))
        super().__post_init__()

    @property
    def hu(self) -> np.ndarray:
        """Hounsfield units, ``(z, y, x)``."""
        return self.array


@dataclass(frozen=True, eq=False)
class DoseGrid(Volume):
    """Absorbed dose in Gy (float32) on its own grid.

    Parameters
    ----------
    geometry, array
        See :class:`Volume`; ``array`` is the dose of the whole course unless stated otherwise.
    fractions
        Number of fractions the dose is delivered in (``array / fractions`` is the dose per fraction).
    description
        Free text shown in reports and written to RT Dose files (plan name, engine, heterogeneity).
    """

    fractions: int = 1
    description: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "array", np.asarray(self.array, dtype=np.float32))
        super().__post_init__()

    @property
    def dose_gy(self) -> np.ndarray:
        """Total dose (Gy), ``(z, y, x)``."""
        return self.array

    @property
    def dose_per_fraction_gy(self) -> np.ndarray:
        """Dose per fraction (Gy), ``(z, y, x)``."""
        return self.array / self.fractions

    @cached_property
    def max_gy(self) -> float:
        """Maximum total dose (Gy); worked out once (the array is read-only)."""
        return float(self.array.max())

    @classmethod
    def total(
        cls,
        doses: Sequence[DoseGrid],
        geometry: Geometry | None = None,
        *,
        fractions: int | None = None,
        description: str | None = None,
    ) -> DoseGrid:
        """The sum of several courses' dose grids (Gy), on one grid.

        Parameters
        ----------
        doses
            Total-course dose grids of the same patient (same frame of reference), e.g. the upper and the
            lower hemi-body fields.
        geometry
            Grid of the sum. ``None``: the common grid when all doses share one; otherwise an axial grid
            with the finest spacing among them covering all of them (so no dose is cut off). Each dose is
            resampled trilinearly onto it, with zero outside its own grid.
        fractions
            Number of fractions of the summed course. ``None``: the sum of the courses' fractions, i.e. the
            courses are given one after the other (each fraction a separate session). Give the number of
            sessions when the courses are delivered together, e.g. ``fractions=1`` for upper and lower
            hemi-body fields on the same day. EQD2 of a summed grid (``dose / fractions`` per fraction) is
            exact only when every session gives a voxel the same dose.
        description
            Text of the sum; default the descriptions joined with ``" + "``.

        Returns
        -------
        DoseGrid
            Float32 total dose (Gy).

        Raises
        ------
        GeometryError
            For an empty list or doses in different frames of reference.
        """
        doses = list(doses)
        if not doses:
            raise GeometryError("no dose grid to add")
        if geometry is None:
            geometry = doses[0].geometry
            if not all(d.geometry.isclose(geometry) for d in doses[1:]):
                lowers, uppers = zip(*(d.geometry.bounds_mm() for d in doses))
                spacing = min(float(d.geometry.spacing_mm.min()) for d in doses)
                frame = next(
                    (d.geometry.frame_of_reference_uid for d in doses if d.geometry.frame_of_reference_uid),
                    None,
                )
                geometry = Geometry.box(np.min(lowers, axis=0), np.max(uppers, axis=0), spacing, frame)
        summed = np.zeros(geometry.shape, dtype=np.float32)
        for dose in doses:
            summed += resample_array(dose.array, dose.geometry, geometry, order=1, fill_value=0.0)
        n = sum(int(d.fractions) for d in doses) if fractions is None else int(fractions)
        if n < 1:
            raise GeometryError(f"fractions = {fractions!r}: a course has at least one fraction")
        text = " + ".join(d.description or "dose" for d in doses) if description is None else description
        return cls(geometry, summed, n, text)

    def __add__(self, other: object) -> DoseGrid:
        """``a + b``: :meth:`total` of two courses given one after the other (fractions add up)."""
        if not isinstance(other, DoseGrid):
            return NotImplemented
        return DoseGrid.total([self, other])

    def __radd__(self, other: object) -> DoseGrid:
        """``0 + dose`` is ``dose``, so that ``sum(doses)`` works."""
        if isinstance(other, (int, float)) and other == 0:
            return self
        return NotImplemented


@dataclass(frozen=True, eq=False)
class Structure(Volume):
    """A named region (boolean mask) with a display colour and optional per-voxel weights.

    Parameters
    ----------
    geometry, array
        See :class:`Volume`; ``array`` is the boolean mask.
    name
        Display name, e.g. ``"Lung_L"``.
    color
        RGB display colour, each channel 0-255.
    weights
        Optional non-negative float32 weight per voxel (0 outside the mask), e.g. the share of the body's
        active marrow held by each marrow voxel.
    """

    name: str = "structure"
    color: tuple[int, int, int] = (255, 255, 0)
    weights: np.ndarray | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "array", np.asarray(self.array, dtype=bool))
        super().__post_init__()
        if self.weights is not None:
            weights = _frozen_array(self.weights, np.float32)
            if weights.shape != self.geometry.shape:
                raise GeometryError(f"weights of {self.name!r} do not match its grid")
            object.__setattr__(self, "weights", weights)

    @property
    def mask(self) -> np.ndarray:
        """The boolean mask, ``(z, y, x)``."""
        return self.array

    @property
    def volume_cc(self) -> float:
        """Volume of the mask in cm3 (voxel count times voxel volume)."""
        return float(np.count_nonzero(self.array) * self.geometry.voxel_volume_cc)

    def resampled(self, target: Geometry, order: int = 0, fill_value: float | None = None) -> Structure:
        """This structure on another grid (nearest neighbour for the mask, linear for weights)."""
        mask = resample_array(self.array.astype(np.uint8), self.geometry, target, order=0) > 0
        weights = None
        if self.weights is not None:
            weights = resample_array(self.weights, self.geometry, target, order=order) * mask
        return replace(self, geometry=target, array=mask, weights=weights)
