"""Errors and warnings that people can act on.

Every problem with the user's input is an :class:`HbiviewError`. The command line turns one into a single
line on stderr and exit code 2; anything else escaping is a bug (exit code 1). Subclasses also derive
from the matching built-in exception so that ``except ValueError`` keeps working for API users.
"""

from __future__ import annotations

import warnings

__all__ = [
    "DicomError",
    "GeometryError",
    "HbiviewError",
    "HbiviewWarning",
    "InputError",
    "MissingInputError",
    "OutputError",
    "PlanError",
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


def warn(message: str, stacklevel: int = 2) -> None:
    """Issue an :class:`HbiviewWarning` pointing at the caller's caller.

    Parameters
    ----------
    message
        One sentence naming the file or value and what hbiview did about it.
    stacklevel
        Passed to :func:`warnings.warn`, counted from the caller of this function.
    """
    warnings.warn(message, HbiviewWarning, stacklevel=stacklevel + 1)
