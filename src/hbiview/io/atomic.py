"""Write files and folders so that nothing is lost: to a temporary name beside the target, then rename.

:func:`atomic_path` writes one file, :func:`atomic_folder` a whole folder (a DICOM series, a DICOM-RT set,
the demo's outputs): either the finished result is in place or nothing changed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from hbiview.errors import OutputError

__all__ = ["atomic_folder", "atomic_path", "check_folder_writable", "check_writable"]


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


def check_folder_writable(path: str | os.PathLike[str], force: bool = False) -> Path:
    """Check that the output folder ``path`` can be written (new, empty, or replaced with ``force``).

    Call it before any long work; :func:`atomic_folder` checks again when it starts.

    Parameters
    ----------
    path
        The output folder.
    force
        Allow replacing a folder that holds files.

    Raises
    ------
    OutputError
        If ``path`` is a file, the current folder (or holds it), a non-empty folder without ``force``, or
        if its parent folder cannot be created or written.
    """
    target = Path(path)
    here = Path.cwd().resolve()
    if target.resolve() == here or target.resolve() in here.parents:
        raise OutputError(f"{target}: is the current folder or holds it; give a new folder")
    if target.exists() and not target.is_dir():
        raise OutputError(f"{target}: exists and is not a folder; choose another output folder")
    if target.is_dir() and any(target.iterdir()) and not force:
        raise OutputError(f"{target}: folder exists and is not empty (use --force to replace its contents)")
    parent = target.resolve().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{target}: cannot create its parent folder {parent} ({exc.strerror})") from exc
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"{target}: parent folder {parent} is not writable")
    return target


@contextlib.contextmanager
def atomic_folder(path: str | os.PathLike[str], force: bool = False) -> Iterator[Path]:
    """Yield an empty staging folder beside ``path``; it becomes ``path`` only if the block succeeds.

    The staging folder (``.NAME.part-*``, permissions from the user's umask) is renamed to ``path`` when
    the block ends without an exception; a folder already at ``path`` (``force``) is moved aside first and
    removed last, and put back should the rename fail. On any error the staging folder is removed and
    ``path`` is as it was.

    Parameters
    ----------
    path
        The final folder; its parent is created if needed.
    force
        Allow replacing a folder that holds files.

    Raises
    ------
    OutputError
        See :func:`check_folder_writable`; also when the staging folder cannot be made.

    Examples
    --------
    >>> with atomic_folder("rt_set", force=True) as staging:  # doctest: +SKIP
    ...     (staging / "README.txt").write_text("...")
    """
    target = check_folder_writable(path, force)
    parent = target.resolve().parent
    try:
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.part-", dir=parent))
    except OSError as exc:  # read-only mount, full disk, or a folder that os.access misjudged
        raise OutputError(f"{target}: cannot write in {parent}: {exc.strerror or exc}") from exc
    try:
        staging.chmod(0o777 & ~_umask())  # mkdtemp makes it private; the published folder follows the umask
        yield staging
        _publish(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _publish(staging: Path, target: Path) -> None:
    """Put the finished ``staging`` folder in place of ``target`` (renames only; the old contents go last)."""
    old = None
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.resolve().parent))
        os.replace(target, old / target.name)
    try:
        os.replace(staging, target)
    except BaseException:
        if old is not None:
            os.replace(old / target.name, target)
            shutil.rmtree(old, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
