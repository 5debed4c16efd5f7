"""Writing what the renderer made: PNG pictures, standalone HTML pages, orbit animations (GIF or MP4).

Every file is written under a temporary name and renamed when complete
(:func:`hbiview.io.atomic.atomic_path`).
"""

from __future__ import annotations

import base64
import html
import io
import json
import os
import shutil
import subprocess
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hbiview.errors import InputError, OutputError
from hbiview.io.atomic import atomic_path, check_writable

__all__ = ["actor_indices", "orbit_backend", "scene_html", "write_html", "write_orbit", "write_png"]


def write_png(image: np.ndarray, out: str | os.PathLike[str], force: bool = False) -> Path:
    """Write an RGB(A) uint8 picture as PNG, atomically.

    Parameters
    ----------
    image
        ``(height, width, 3 or 4)`` uint8.
    out
        File name (``.png``).
    force
        Replace an existing file.
    """
    from PIL import Image

    array = np.asarray(image)
    if array.ndim != 3 or array.shape[2] not in (3, 4) or array.dtype != np.uint8:
        raise InputError(f"a PNG needs a (height, width, 3|4) uint8 picture, got {array.shape} {array.dtype}")
    with atomic_path(out, force=force) as tmp:
        Image.fromarray(array).save(tmp, format="PNG", compress_level=6)
    return Path(out)


# ----------------------------------------------------------------------------------------------- HTML
def _require_trame_vtk() -> None:
    """Raise a clear error when trame-vtk (vtk.js serializers and standalone viewer) is not installed."""
    try:
        import trame_vtk.modules.vtk.serializers
        import trame_vtk.tools.vtksz2html  # noqa: F401
    except ImportError as exc:
        raise InputError(
            "an interactive HTML page needs the package trame-vtk (pip install trame-vtk); "
            "PNG pictures and orbits work without it"
        ) from exc


def _scene_archive(plotter: Any) -> bytes:
    """The plotter's scene as a vtk.js 'OfflineLocalView' archive (zip holding index.json).

    The scene is serialised with trame-vtk's serializers directly (no server is started); this is the
    state that ``trame_vtk``'s local view would send to a browser.
    """
    _require_trame_vtk()
    from trame_vtk.modules.vtk.serializers import (
        SynchronizationContext,
        extract_array_hash,
        initialize_serializers,
        reference_id,
        serialize,
    )

    plotter.render()
    initialize_serializers()
    context = SynchronizationContext()
    window = plotter.render_window
    camera = plotter.renderer.GetActiveCamera()
    view = serialize(None, window, reference_id(window), context, 1)
    view["extra"] = {
        "vtkRefId": reference_id(window),
        "centerOfRotation": camera.GetFocalPoint(),
        "camera": reference_id(camera),
    }
    hashes = {}
    for entry in extract_array_hash(view):
        key = entry["hash"]
        hashes[key] = dict(**entry, content=context.get_cached_data_array(key, False))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.json", json.dumps({"hashes": hashes, "scene": view}), zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


_OVERLAY_CSS = """
<style>
#hbiview-overlay { position: fixed; top: 8px; left: 10px; z-index: 1000; pointer-events: none;
  font: 15px/1.35 system-ui, sans-serif; color: #fff; text-shadow: 0 0 3px #000, 0 0 2px #000; }
#hbiview-overlay h1 { font-size: 20px; margin: 0 0 4px 0; font-weight: 600; }
#hbiview-overlay .row { display: flex; align-items: center; gap: 6px; }
#hbiview-overlay .swatch { width: 14px; height: 14px; border: 1px solid #000; display: inline-block; }
#hbiview-overlay .note { font-size: 12px; color: #ddd; margin-top: 6px; }
#hbiview-overlay .bar { margin-top: 8px; font-size: 13px; }
#hbiview-overlay .ends { display: flex; justify-content: space-between; width: 222px; font-size: 12px; }
#hbiview-overlay .bar { padding-bottom: 16px; }
#hbiview-overlay .rx { position: absolute; top: -4px; width: 0; height: 20px; border-left: 2px solid #fff;
  box-shadow: 0 0 2px #000; }
#hbiview-overlay .toggles { pointer-events: auto; margin-top: 8px; font-size: 13px; }
#hbiview-overlay .toggles input { margin: 0 6px 0 0; }
#hbiview-overlay .rxlabel { position: absolute; top: 30px; transform: translateX(-50%); font-size: 12px;
  white-space: nowrap; }
</style>
"""


def _colour_bar_html(
    cmap: Any, clim: tuple[float, float], label: str, mark: tuple[float, str] | None = None
) -> str:
    """A 220 px gradient with its two end values, and a tick at ``mark``.

    ``mark`` ``(value, text)`` puts a tick and its name on the bar (the prescription), so that the
    colours read against the prescribed dose.
    """
    stops = ", ".join(
        "rgb({},{},{}) {:.0f}%".format(*(int(255 * c) for c in cmap(f)[:3]), 100 * f)
        for f in np.linspace(0, 1, 12)
    )
    tick = ""
    if mark is not None and clim[0] <= mark[0] <= clim[1] and clim[1] > clim[0]:
        left = 220.0 * (mark[0] - clim[0]) / (clim[1] - clim[0])
        tick = (
            f'<div class="rx" style="left: {left:.1f}px;"></div>'
            f'<div class="rxlabel" style="left: {left:.1f}px;">{html.escape(mark[1])}</div>'
        )
    return (
        f'<div class="bar"><div>{html.escape(label)}</div>'
        f'<div style="position: relative; height: 12px; width: 220px; border: 1px solid #000; '
        f'background: linear-gradient(to right, {stops});">{tick}</div>'
        f'<div class="ends"><span>{clim[0]:.1f}</span><span>{clim[1]:.1f}</span></div></div>'
    )


def actor_indices(plotter: Any, groups: Mapping[str, Sequence[Any]]) -> dict[str, list[int]]:
    """Label -> positions of its actors among the visible actors of the plotter's renderer, in order.

    The vtk.js page rebuilds the renderer from the serialised scene, adding its actors in the order of
    VTK's view-prop collection (hidden ones included, without geometry), so these positions index
    ``renderer.getActors()`` in the browser.
    """
    props = plotter.renderer.GetViewProps()
    order = [props.GetItemAsObject(i) for i in range(props.GetNumberOfItems())]
    actors = [p.GetAddressAsString("vtkObject") for p in order if p.IsA("vtkActor")]
    out = {}
    for label, group in groups.items():
        where = [actors.index(a.GetAddressAsString("vtkObject")) for a in group if a is not None]
        if where:
            out[label] = sorted(where)
    return out


def _toggles_html(indices: Mapping[str, Sequence[int]]) -> str:
    """Checkboxes that show or hide groups of actors in the page's vtk.js renderer."""
    boxes = "".join(
        f'<label class="row"><input type="checkbox" checked data-actors="{",".join(map(str, where))}" '
        f'onchange="hbiviewToggle(this)">{html.escape(label)}</label>'
        for label, where in indices.items()
    )
    script = (
        "<script>\nfunction hbiviewToggle(box) {\n"
        "  const win = (window.global || window).renderWindow;\n"
        "  if (!win) return;\n"
        "  const renderer = win.getRenderers()\n"
        "    .reduce((a, b) => (b.getActors().length > a.getActors().length ? b : a));\n"
        "  const actors = renderer.getActors();\n"
        "  for (const i of box.dataset.actors.split(',')) {\n"
        "    if (actors[+i]) actors[+i].setVisibility(box.checked);\n  }\n"
        "  win.render();\n}\n</script>\n"
    )
    return f'<div class="toggles" id="hbiview-toggles">{boxes}</div>{script}'


def _overlay(
    title: str, legend: Sequence[tuple[str, tuple[float, float, float]]], note: str, bar: str = ""
) -> str:
    rows = "".join(
        f'<div class="row"><span class="swatch" style="background: rgb({int(r * 255)},{int(g * 255)},'
        f'{int(b * 255)})"></span>{html.escape(label)}</div>'
        for label, (r, g, b) in legend
    )
    # the viewer fills (and empties) the element of class "content": the overlay stays beside it
    return (
        f'{_OVERLAY_CSS}<div class="content" style="position: fixed; inset: 0;"></div>\n'
        f'<div id="hbiview-overlay"><h1>{html.escape(title)}</h1>{rows}{bar}'
        f'<div class="note">{html.escape(note)}</div></div>\n'
    )


def scene_html(
    plotter: Any,
    title: str = "hbiview",
    legend: Sequence[tuple[str, tuple[float, float, float]]] = (),
    note: str = "drag: rotate · shift-drag: pan · wheel: zoom · the arrows at the feet point to the "
    "patient's left (L), posterior (P) and head (H)",
    colour_bar: tuple[Any, tuple[float, float], str] | None = None,
    colour_bar_mark: tuple[float, str] | None = None,
    toggles: Mapping[str, Sequence[Any]] | None = None,
) -> str:
    """A standalone HTML page (vtk.js viewer with the scene embedded) of a PyVista plotter's scene.

    Parameters
    ----------
    plotter
        The plotter holding the scene (off-screen is fine).
    title
        Heading shown over the scene (the page's title too).
    legend
        ``(label, rgb 0-1)`` rows shown under the heading (isodoses, structures): vtk.js does not draw
        VTK's text, legend and scalar-bar actors, so the page draws them in HTML.
    note
        Small print under the legend.
    colour_bar
        ``(cmap, (low, high), label)`` of the planes' colourwash, drawn as a gradient under the legend.
    colour_bar_mark
        ``(value, text)`` marked on the colour bar, e.g. the prescription ``(6.0, "Rx 6 Gy")``.
    toggles
        Label -> VTK actors of the plotter's renderer: the page shows one checkbox per label that shows
        or hides those actors in the browser (vtk.js keeps the actors in the renderer's order, which
        :func:`actor_indices` finds on this side).

    Returns
    -------
    str
        The page; it needs no server and no network.
    """
    _require_trame_vtk()
    from trame_vtk.tools.vtksz2html import HTML_VIEWER_PATH

    payload = base64.b64encode(_scene_archive(plotter)).decode("ascii")
    viewer = HTML_VIEWER_PATH.read_text(encoding="utf-8")
    loader = (
        "<script>\nfunction loadDataSet() {\n"
        "  const container = document.querySelector('.content') || document.querySelector('body');\n"
        f'  const base64Str = "{payload}";\n'
        "  OfflineLocalView.load(container, { base64Str });\n}\n</script>\n"
    )
    bar = "" if colour_bar is None else _colour_bar_html(*colour_bar, mark=colour_bar_mark)
    if toggles:
        bar += _toggles_html(actor_indices(plotter, toggles))
    overlay = _overlay(title, legend, note, bar)
    if "</body>" not in viewer:  # pragma: no cover - the viewer file changed shape
        raise OutputError("trame-vtk's static viewer has no </body>: cannot embed the scene")
    page = viewer.replace("</body>", overlay + loader + "</body>", 1)
    if "<title>" in page:
        head, rest = page.split("<title>", 1)
        page = head + f"<title>{html.escape(title)}" + rest[rest.index("</title>") :]
    return page


def write_html(page: str, out: str | os.PathLike[str], force: bool = False) -> Path:
    """Write an HTML page atomically (UTF-8)."""
    with atomic_path(out, force=force) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return Path(out)


# ---------------------------------------------------------------------------------------------- orbit
def orbit_backend(out: str | os.PathLike[str]) -> str:
    """Which writer makes the animation ``out``: ``"imageio"`` for ``.gif``, ``"ffmpeg"`` for ``.mp4``.

    Raises
    ------
    InputError
        For another suffix, or when the writer it needs is missing (saying what to install).
    """
    suffix = Path(out).suffix.lower()
    if suffix == ".gif":
        try:
            import imageio.v3  # noqa: F401
        except ImportError as exc:
            raise InputError(
                f"{out}: a GIF animation needs the package imageio (pip install imageio), "
                "or ask for an .mp4 if ffmpeg is installed"
            ) from exc
        return "imageio"
    if suffix == ".mp4":
        if shutil.which("ffmpeg") is None:
            raise InputError(
                f"{out}: an MP4 animation needs the program ffmpeg on the PATH "
                "(e.g. apt-get install ffmpeg), or ask for a .gif (needs imageio)"
            )
        return "ffmpeg"
    raise InputError(f"{out}: an orbit animation is written as .gif or .mp4, not {suffix or 'no suffix'!r}")


def write_orbit(
    frames: Sequence[np.ndarray], out: str | os.PathLike[str], fps: float = 12.0, force: bool = False
) -> Path:
    """Write RGB frames as an endlessly looping GIF (imageio) or an H.264 MP4 (ffmpeg).

    Parameters
    ----------
    frames
        ``(height, width, 3)`` uint8 pictures, all the same size.
    out
        ``.gif`` or ``.mp4`` file.
    fps
        Frames per second.
    force
        Replace an existing file.
    """
    backend = orbit_backend(out)
    check_writable(out, force)
    if not frames:
        raise InputError("an orbit animation needs at least one frame")
    stack = np.stack([np.asarray(f, dtype=np.uint8)[..., :3] for f in frames])
    with atomic_path(out, force=force) as tmp:
        if backend == "imageio":
            import imageio.v3 as iio

            iio.imwrite(tmp, stack, extension=".gif", duration=1000.0 / fps, loop=0)
        else:
            _write_mp4(stack, tmp, fps)
    return Path(out)


def _write_mp4(stack: np.ndarray, path: Path, fps: float) -> None:
    _, height, width, _ = stack.shape
    # H.264 in yuv420p needs even sizes
    stack = stack[:, : height - height % 2, : width - width % 2]
    with tempfile.TemporaryDirectory() as folder:
        raw = Path(folder) / "frames.rgb"
        raw.write_bytes(stack.tobytes())
        command = [
            "ffmpeg", "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24",
            "-s", f"{stack.shape[2]}x{stack.shape[1]}", "-r", f"{fps:g}", "-i", str(raw),
            "-c:v", "libx264", "-pix_fmt", "yuv420p", "-movflags", "+faststart", "-f", "mp4", str(path),
        ]  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise OutputError(f"{path}: ffmpeg failed: {result.stderr.strip().splitlines()[-1:]}")
