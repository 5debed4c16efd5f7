"""Write files so that nothing is lost: to a temporary name beside the target, then rename."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from hbiview.errors import OutputError

__all__ = ["atomic_path", "check_writable"]


def check_writable(path: str | os.PathLike[str], force: bool = False) -> Path:
    """Check that ``path`` can be written, before any work is done.

    Parameters
    ----------
    path
        The output file.
    force
        Allow replacing an existing file.

    Raises
    ------
    OutputError
        If the file exists and ``force`` is false, if it is a directory, or if its folder does not exist
        or is not writable.
    """
    target = Path(path)
    if target.is_dir():
        raise OutputError(f"{target}: is a directory, expected a file name")
    if target.exists() and not force:
        raise OutputError(f"{target}: already exists (use --force to replace it)")
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise OutputError(f"{target}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise OutputError(f"{target}: folder {folder} is not writable")
    return target


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], force: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` only if the block succeeds.

    Parameters
    ----------
    path
        The final file name.
    force
        Allow replacing an existing file.

    Examples
    --------
    >>> with atomic_path("dose.dcm", force=True) as tmp:  # doctest: +SKIP
    ...     dataset.save_as(tmp)
    """
    target = check_writable(path, force)
    # keep the extension last: writers such as nibabel and VTK choose the format from it
    suffix = "".join(target.suffixes)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.part-", suffix=suffix, dir=target.parent)
    except OSError as exc:  # read-only mount, full disk, or a folder that os.access misjudged
        raise OutputError(f"{target}: cannot write in {target.parent}: {exc.strerror or exc}") from exc
    os.close(fd)
    tmp = Path(tmp_name)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; outputs follow the user's umask
    try:
        yield tmp
        os.replace(tmp, target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(exc, OutputError):
            raise
        raise OutputError(f"{target}: cannot write: {exc.strerror or exc}") from exc
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
