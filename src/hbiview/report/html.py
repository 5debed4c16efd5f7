"""A self-contained HTML report: one file, inline CSS, every image embedded as base64 PNG."""

from __future__ import annotations

import base64
import datetime as _dt
import html
import os
from collections.abc import Sequence
from pathlib import Path

from hbiview import __version__
from hbiview.io.atomic import atomic_path
from hbiview.report.content import difference_table, display_table, limits, marrow_table, summary_lines
from hbiview.report.evaluate import PlanResult
from hbiview.report.figures import comparison_figure, dvh_figure, figure_png, shared_structures

__all__ = ["render_html", "write_html"]

CSS = """
body { font-family: "DejaVu Sans", Helvetica, Arial, sans-serif; color: #222; margin: 2em auto;
       max-width: 64em; padding: 0 1.5em; line-height: 1.4; }
h1 { font-size: 1.6em; border-bottom: 2px solid #1f4e79; padding-bottom: .2em; color: #1f4e79; }
h2 { font-size: 1.25em; margin-top: 1.8em; color: #1f4e79; }
h3 { font-size: 1.05em; margin-top: 1.2em; }
table { border-collapse: collapse; margin: .6em 0 1em; font-size: .85em; }
th, td { border: 1px solid #c8c8c8; padding: .25em .55em; }
th { background: #eef3f8; text-align: left; }
th .nw { white-space: nowrap; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
table.summary td { width: 11em; text-align: left; }
table.summary td + td { width: auto; }
.note { background: #fff8e5; border-left: 4px solid #e6a000; padding: .5em .8em; margin: .8em 0; }
.meta { color: #666; font-size: .85em; }
figure { margin: 1em 0; }
figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { font-size: .85em; color: #555; }
ul.limits li { margin-bottom: .35em; }
"""


def _png_tag(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _heading_html(heading: str) -> str:
    """A table heading as HTML: newlines become line breaks; a word is never split at its hyphen."""
    lines = []
    for line in heading.split("\n"):
        words = [
            f'<span class="nw">{html.escape(w)}</span>' if "-" in w else html.escape(w)
            for w in line.split(" ")
        ]
        lines.append(" ".join(words))
    return "<br>".join(lines)


def _table(headings: Sequence[str], rows: Sequence[Sequence[str]], css_class: str = "") -> str:
    head = "".join(f"<th>{_heading_html(h)}</th>" for h in headings)
    body = []
    for row in rows:
        cells = []
        for i, cell in enumerate(row):
            numeric = i > 0 and cell[:1] in "+-–0123456789" if cell else False
            cls = ' class="num"' if numeric else ""
            cells.append(f"<td{cls}>{html.escape(cell)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    cls = f' class="{css_class}"' if css_class else ""
    return f"<table{cls}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _image_bytes(image: bytes | str | os.PathLike[str]) -> bytes:
    if isinstance(image, (bytes, bytearray)):
        return bytes(image)
    return Path(image).read_bytes()


def render_html(
    results: Sequence[PlanResult],
    *,
    title: str = "hbiview dose report",
    images: Sequence[tuple[str, bytes | str | os.PathLike[str]]] = (),
    end_caps: str = "full",
) -> str:
    """The report as one HTML string (see :func:`hbiview.report.write_report`)."""
    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="meta">hbiview {__version__} · {now} · {len(results)} plan(s)</p>',
        '<p class="note">For comparison and teaching, not a clinical treatment planning system. '
        "The limits of the model are listed at the end.</p>",
    ]
    for result in results:
        parts.append(f"<h2>{html.escape(result.label)}</h2>")
        parts.append(
            _table(["", ""], [[k, v] for k, v in summary_lines(result)], "summary").replace(
                "<thead><tr><th></th><th></th></tr></thead>", ""
            )
        )
        if result.lung_assessment is not None:
            parts.append(f'<p class="note">{html.escape(result.lung_assessment.text)}</p>')
        fig = dvh_figure(result)
        parts.append(
            f"<figure>{_png_tag(figure_png(fig), f'DVH of {result.label}')}<figcaption>Cumulative DVHs "
            "(solid: volume; dashed: fraction of the structure's active marrow).</figcaption></figure>"
        )
        headings, rows = display_table(result)
        parts.append("<h3>Dose-volume metrics</h3>" + _table(headings, rows))
        marrow = marrow_table(result)
        if marrow is not None:
            parts.append("<h3>Active marrow</h3>" + _table(*marrow))
    if len(results) > 1:
        parts.append("<h2>Comparison</h2>")
        names = shared_structures(results)
        if names:
            fig = comparison_figure(results, names)
            parts.append(
                f"<figure>{_png_tag(figure_png(fig), 'overlaid DVHs')}<figcaption>Overlaid DVHs; "
                "dotted: active-marrow curves.</figcaption></figure>"
            )
        headings, rows = difference_table(results)
        parts.append(f"<h3>Differences from {html.escape(results[0].label)}</h3>" + _table(headings, rows))
    if images:
        parts.append("<h2>Images</h2>")
        for caption, image in images:
            parts.append(
                f"<figure>{_png_tag(_image_bytes(image), caption)}"
                f"<figcaption>{html.escape(caption)}</figcaption></figure>"
            )
    parts.append("<h2>Limits of this report</h2><ul class='limits'>")
    parts.extend(f"<li>{html.escape(text)}</li>" for text in limits(results, end_caps))
    parts.append("</ul></body></html>")
    return "\n".join(parts)


def write_html(
    path: str | os.PathLike[str],
    results: Sequence[PlanResult],
    *,
    title: str = "hbiview dose report",
    images: Sequence[tuple[str, bytes | str | os.PathLike[str]]] = (),
    end_caps: str = "full",
    force: bool = False,
) -> Path:
    """Write the self-contained HTML report."""
    text = render_html(results, title=title, images=images, end_caps=end_caps)
    with atomic_path(path, force=force) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)
