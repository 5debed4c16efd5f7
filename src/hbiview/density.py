"""Hounsfield units to electron density relative to water, and back.

The default table is matRad's photon default (BSD-3-Clause), shipped as ``hbiview/data/hu_to_density.csv``;
users replace it with their own scanner calibration (a CSV with columns ``hu`` and a density column).
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np
import numpy.typing as npt

from hbiview.errors import InputError, MissingInputError

__all__ = ["HuDensityTable", "default_table", "density_to_hu", "hu_to_density"]


@dataclass(frozen=True, eq=False)
class HuDensityTable:
    """A piecewise-linear calibration curve, clamped beyond its end points.

    Parameters
    ----------
    hu
        Strictly increasing Hounsfield units.
    relative_density
        Electron density relative to water at each ``hu``.
    source
        Where the table came from (shown in reports).
    """

    hu: np.ndarray
    relative_density: np.ndarray
    source: str = ""

    @classmethod
    def from_csv(cls, path: str | os.PathLike[str]) -> HuDensityTable:
        """Read a two-column CSV (``hu``, density); lines starting with ``#`` are comments."""
        try:
            with open(path, newline="") as handle:
                rows = [
                    r for r in csv.reader(line for line in handle if not line.lstrip().startswith("#")) if r
                ]
        except FileNotFoundError as exc:
            raise MissingInputError(f"{path}: HU-to-density table not found") from exc
        try:
            values = np.array([[float(r[0]), float(r[1])] for r in rows[1:]])
        except (ValueError, IndexError) as exc:
            raise InputError(f"{path}: expected a header and rows of two numbers (hu, density)") from exc
        if len(values) < 2:
            raise InputError(f"{path}: an HU-to-density table needs at least two rows")
        # duplicate HU at the air end (e.g. -1024 and -999 both 0.001) are fine; decreasing HU are not
        if np.any(np.diff(values[:, 0]) <= 0):
            raise InputError(f"{path}: HU values must increase from row to row")
        if np.any(values[:, 1] < 0):
            raise InputError(f"{path}: densities must not be negative")
        return cls(values[:, 0], values[:, 1], str(path))

    def density(self, hu: npt.ArrayLike) -> np.ndarray:
        """Relative electron density (float32) of Hounsfield units."""
        return np.interp(np.asarray(hu, dtype=np.float32), self.hu, self.relative_density).astype(np.float32)

    def hu_for(self, density: npt.ArrayLike) -> np.ndarray:
        """Hounsfield units that this table maps to ``density`` (inverse of the increasing part)."""
        rho = np.asarray(density, dtype=float)
        # np.interp needs increasing x: of a flat run (e.g. -1024 and -999 both 0.001) keep its last point,
        # where the forward curve starts to rise, so that the round trip is exact
        keep = np.concatenate([np.diff(self.relative_density) > 0, [True]])
        return np.interp(rho, self.relative_density[keep], self.hu[keep])


@lru_cache(maxsize=1)
def default_table() -> HuDensityTable:
    """Return the default HU-to-density table (matRad photon default)."""
    ref = resources.files("hbiview") / "data" / "hu_to_density.csv"
    with resources.as_file(ref) as path:
        table = HuDensityTable.from_csv(path)
    return HuDensityTable(table.hu, table.relative_density, "matRad photon default (BSD-3-Clause)")


def hu_to_density(hu: npt.ArrayLike, table: HuDensityTable | None = None) -> np.ndarray:
    """Relative electron density of Hounsfield units through ``table`` (default: :func:`default_table`)."""
    return (table or default_table()).density(hu)


def density_to_hu(density: npt.ArrayLike, table: HuDensityTable | None = None) -> np.ndarray:
    """Hounsfield units that ``table`` maps to ``density`` (so the round trip gives the density back)."""
    return (table or default_table()).hu_for(density)
