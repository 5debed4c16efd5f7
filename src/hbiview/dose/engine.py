"""The small interface every dose engine implements, and the registry that picks one by name.

An engine turns one beam and a density volume into a :class:`BeamDose`: something that returns the dose of
that beam, per unit beam weight, at any LPS points. :func:`hbiview.dose.compute_dose` sums the beams,
normalises to the prescription and samples the result on the dose grid, so a new engine (a faster one, a
more exact one) only implements :meth:`DoseEngine.beam_dose` and registers itself.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar, Protocol

import numpy as np

from hbiview.errors import InputError
from hbiview.geometry import Geometry
from hbiview.plans import Beam

__all__ = ["BeamDose", "DoseEngine", "available_engines", "get_engine", "register_engine"]


class BeamDose(Protocol):
    """The dose of one beam, per unit weight (1 unit gives 1 Gy at dmax of a 10 x 10 cm field, SSD 1000)."""

    def at(self, points_lps_mm: np.ndarray) -> np.ndarray:
        """Dose (Gy per unit weight) at ``(n, 3)`` LPS points (mm); 0 outside the beam's region."""
        ...


class DoseEngine(ABC):
    """A dose calculation algorithm for one photon beam."""

    #: Name used by ``compute_dose(..., engine=NAME)`` and ``hbiview dose --engine``.
    name: ClassVar[str] = ""

    @abstractmethod
    def beam_dose(
        self,
        beam: Beam,
        density: np.ndarray,
        geometry: Geometry,
        *,
        resolution_mm: float,
        heterogeneity: bool,
    ) -> BeamDose:
        """Compute one beam.

        Parameters
        ----------
        beam
            A resolved beam (isocentre set).
        density
            Relative electron density on ``geometry`` (0 outside the body; 1 inside without heterogeneity).
        geometry
            The grid of ``density``.
        resolution_mm
            Spacing (mm) the engine should resolve (the dose grid spacing).
        heterogeneity
            Whether ``density`` carries tissue densities (engines may skip density-dependent work if not).
        """


_ENGINES: dict[str, type[DoseEngine]] = {}


def register_engine(cls: type[DoseEngine]) -> type[DoseEngine]:
    """Class decorator: make an engine available under ``cls.name``."""
    _ENGINES[cls.name] = cls
    return cls


def available_engines() -> list[str]:
    """Names of the registered engines."""
    return sorted(_ENGINES)


def get_engine(name: str) -> DoseEngine:
    """A new instance of the engine called ``name``.

    Raises
    ------
    InputError
        If no engine has that name.
    """
    try:
        return _ENGINES[name]()
    except KeyError:
        raise InputError(
            f"unknown dose engine {name!r}; available: {', '.join(available_engines())}"
        ) from None
