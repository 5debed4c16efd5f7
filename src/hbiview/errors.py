"""Errors and warnings that people can act on.

Every problem with the user's input is an :class:`HbiviewError`. The command line turns one into a single
line on stderr and exit code 2; anything else escaping is a bug (exit code 1). Subclasses also derive
from the matching built-in exception so that ``except ValueError`` keeps working for API users.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = [
    "DicomError",
    "GeometryError",
    "HbiviewError",
    "HbiviewWarning",
    "InputError",
    "MissingInputError",
    "OutputError",
    "PlanError",
    "PrescriptionPointWarning",
    "SetupWarning",
    "collected_warnings",
    "warn",
]


class HbiviewError(Exception):
    """Base class of every error caused by input the user can fix."""


class InputError(HbiviewError, ValueError):
    """A file, argument or value is invalid; the message names it and says what to do."""


class MissingInputError(HbiviewError, FileNotFoundError):
    """A path the user gave does not exist or holds nothing usable."""


class DicomError(InputError):
    """A DICOM file or series cannot be used (corrupt, wrong modality, inconsistent geometry...)."""


class GeometryError(InputError):
    """Two grids do not fit together (different frames of reference, no overlap, bad spacing)."""


class PlanError(InputError):
    """A treatment plan (preset or TOML file) is invalid; the message names the key."""


class OutputError(HbiviewError, OSError):
    """An output cannot be written (exists without ``--force``, directory not writable...)."""


class HbiviewWarning(UserWarning):
    """Input that is irregular but readable; the message says what hbiview did about it."""


class SetupWarning(HbiviewWarning):
    """About the set-up a plan preset chose for its borders: its SSD, jaws, collimator or central axis.

    It speaks of that set-up only: a plan that keeps another set-up and moves its jaws to the same borders
    (:func:`hbiview.plans.keep_setup.move_jaws`, the viewer's border controls) does not have it. Warnings
    about the borders or the patient (a border beyond the images, landmarks estimated, a length one field
    cannot cover) are plain :class:`HbiviewWarning`: they hold for any set-up of those borders.
    """


class PrescriptionPointWarning(SetupWarning):
    """Where a set-up's central axis put the prescription point (off the axis, in tissue).

    The point belongs to the set-up: a plan that keeps the set-up keeps the point, and this warning with it.
    """


def warn(message: str, stacklevel: int = 2, category: type[HbiviewWarning] = HbiviewWarning) -> None:
    """Issue an :class:`HbiviewWarning` (or a subclass) pointing at the caller's caller.

    Parameters
    ----------
    message
        One sentence naming the file or value and what hbiview did about it.
    stacklevel
        Passed to :func:`warnings.warn`, counted from the caller of this function.
    category
        :class:`HbiviewWarning` or a subclass saying what the warning is about (:class:`SetupWarning`).
    """
    sink = getattr(_COLLECTING, "sink", None)
    if sink is not None:  # collected in this thread (collected_warnings)
        sink.append(message)
        return
    warnings.warn(message, category, stacklevel=stacklevel + 1)


_COLLECTING = threading.local()


@contextmanager
def collected_warnings() -> Iterator[list[str]]:
    """Collect the texts of the :func:`warn` calls made in this thread instead of issuing them.

    Unlike :class:`warnings.catch_warnings`, which swaps the process's warning filters and so may not be
    used by two threads at once, this touches nothing another thread sees: the viewer computes a plan's
    DVHs in a thread of their own while the page is drawn.

    Yields
    ------
    list of str
        The messages, in order (each as often as it was given).
    """
    outer = getattr(_COLLECTING, "sink", None)
    said: list[str] = []
    _COLLECTING.sink = said
    try:
        yield said
    finally:
        _COLLECTING.sink = outer
