"""The PDF report: A4 pages drawn with matplotlib (vector plots and tables, embedded images)."""

from __future__ import annotations

import datetime as _dt
import io
import os
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hbiview import __version__
from hbiview.io.atomic import atomic_path
from hbiview.report.content import difference_table, display_table, limits, marrow_table, summary_lines
from hbiview.report.evaluate import PlanResult
from hbiview.report.figures import draw_comparison, draw_dvh, shared_structures

__all__ = ["write_pdf"]

PAGE_W, PAGE_H = 8.27, 11.69  # A4 portrait, inches
MARGIN = 0.6
BLUE = "#1f4e79"
ROW_H = 0.2  # table row height, inches
HEAD_H = 0.36  # table heading row height (two lines), inches
DVH_H = 3.3  # height of a plan's DVH plot, inches
DVH_MIN_H = 2.3  # the least height a DVH plot shrinks to, to fill a page, inches
CAPTION_H = 0.35  # height of the caption under a DVH plot, inches
PANEL_H = 2.9  # height of a row of comparison panels, inches


def _text_width_in(text: str, size: float, weight: str = "normal") -> float:
    """Width of one line of text as matplotlib draws it, inches."""
    from matplotlib.backends.backend_agg import RendererAgg
    from matplotlib.font_manager import FontProperties

    global _RENDERER
    if _RENDERER is None:
        _RENDERER = RendererAgg(10, 10, 72)  # 72 dpi: one pixel is one point
    width_pt, _, _ = _RENDERER.get_text_width_height_descent(
        text, FontProperties(size=size, weight=weight), ismath=False
    )
    return width_pt / 72


_RENDERER: Any = None


def _wrap_to_width(text: str, width_in: float, size: float, weight: str = "normal") -> list[str]:
    """Greedy word wrap of ``text`` into lines no wider than ``width_in`` inches (existing newlines kept).

    A single word wider than the width stays on its own line (the caller shrinks the font if it must fit).
    """
    lines: list[str] = []
    for part in text.split("\n"):
        line = ""
        for word in part.split():
            candidate = f"{line} {word}" if line else word
            if line and _text_width_in(candidate, size, weight) > width_in:
                lines.append(line)
                line = word
            else:
                line = candidate
        lines.append(line)
    return lines


@dataclass(frozen=True)
class _TableLayout:
    """How a table is drawn: font size (pt), column widths (inches), wrapped headings, heading height (in)."""

    font: float
    widths_in: list[float]
    headings: list[str]
    head_h: float


def _cell_width_in(text_width_in: float) -> float:
    """Column width that holds a text: matplotlib's table cells pad by 10 % of the width on each side."""
    return text_width_in / 0.8 + 0.03


def _table_layout(
    headings: Sequence[str], rows: Sequence[Sequence[str]], font: float, width_in: float
) -> _TableLayout:
    """Column widths from the measured text, headings wrapped at spaces to fit their columns.

    Each column is at least as wide as its widest cell and its widest heading word; room left over goes
    to the columns whose headings would otherwise wrap most. If even that does not fit, the font shrinks
    (down to 5 pt).
    """
    while True:
        body = [max([_text_width_in(str(r[c]), font) for r in rows] + [0.0]) for c in range(len(headings))]
        words = [
            max(_text_width_in(word, font, "bold") for word in (str(h).split() or [""])) for h in headings
        ]
        lines = [max(_text_width_in(line, font, "bold") for line in str(h).split("\n")) for h in headings]
        minimum = [_cell_width_in(max(b, w)) for b, w in zip(body, words)]
        preferred = [_cell_width_in(max(b, n)) for b, n in zip(body, lines)]
        if sum(minimum) <= width_in or font <= 5.0:
            break
        font -= 0.4
    if sum(preferred) <= width_in:
        widths = [p * width_in / sum(preferred) for p in preferred]
    else:
        spare = width_in - sum(minimum)
        wanted = sum(p - m for p, m in zip(preferred, minimum))
        widths = [m + (p - m) * spare / wanted if wanted > 0 else m for p, m in zip(preferred, minimum)]
        widths = [w * width_in / sum(widths) for w in widths]  # fills the width; no-op unless font hit 5 pt
    wrapped = [
        "\n".join(_wrap_to_width(str(h), w * 0.8 - 0.02, font, "bold")) for h, w in zip(headings, widths)
    ]
    n_lines = max(text.count("\n") + 1 for text in wrapped)
    head_h = max(HEAD_H, n_lines * font / 72 * 1.2 + 0.12)
    return _TableLayout(font, widths, wrapped, head_h)


class _Pages:
    """A cursor over A4 pages: elements are placed top to bottom, a new page starts when one is full."""

    def __init__(self, pdf: Any, title: str) -> None:
        self.pdf = pdf
        self.title = title
        self.fig: Any = None
        self.y = 0.0
        self.number = 0
        self.stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        # the running head shares the top line with the version stamp: cut it short with an ellipsis
        room_in = PAGE_W - 2 * MARGIN - _text_width_in(f"hbiview {__version__} · {self.stamp}", 8) - 0.3
        self.running_title = title
        while len(self.running_title) > 1 and _text_width_in(self.running_title, 8) > room_in:
            self.running_title = self.running_title[:-2].rstrip() + "…"

    def new_page(self, landscape: bool = False) -> Any:
        """Start a page (A4 portrait, or landscape for a wide picture) with running head and footer."""
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        self.finish()
        width, height = (PAGE_H, PAGE_W) if landscape else (PAGE_W, PAGE_H)
        fig = Figure(figsize=(width, height))
        FigureCanvasAgg(fig)
        self.number += 1
        fig.text(MARGIN / width, 1 - 0.38 / height, self.running_title, fontsize=8, color="#777777")
        fig.text(
            1 - MARGIN / width,
            1 - 0.38 / height,
            f"hbiview {__version__} · {self.stamp}",
            fontsize=8,
            color="#777777",
            ha="right",
        )
        fig.text(
            0.5,
            0.3 / height,
            f"page {self.number} · for comparison and teaching, not for clinical use",
            fontsize=7.5,
            color="#777777",
            ha="center",
        )
        if landscape:
            return fig
        self.fig = fig
        self.y = PAGE_H - 0.65
        return fig

    def finish(self) -> None:
        if self.fig is not None:
            self.pdf.savefig(self.fig)
            self.fig = None

    def need(self, height_in: float) -> None:
        if self.fig is None or self.y - height_in < 0.7:
            self.new_page()

    # ------------------------------------------------------------------ elements
    def heading(self, text: str, size: float = 15, gap: float = 0.15) -> None:
        lines = _wrap_to_width(text, PAGE_W - 2 * MARGIN, size, "bold")  # long titles wrap, never run off
        line_h = size / 72 * 1.3
        self.need(len(lines) * line_h + gap + 0.1 + HEAD_H + ROW_H)  # keep a heading with what follows
        self.y -= len(lines) * line_h
        self.fig.text(
            MARGIN / PAGE_W,
            self.y / PAGE_H,
            "\n".join(lines),
            fontsize=size,
            color=BLUE,
            weight="bold",
            linespacing=1.3,
        )
        if size >= 14:
            self.fig.add_artist(
                __import__("matplotlib.lines", fromlist=["Line2D"]).Line2D(
                    [MARGIN / PAGE_W, 1 - MARGIN / PAGE_W], [(self.y - 0.08) / PAGE_H] * 2, color=BLUE, lw=1.2
                )
            )
        self.y -= gap + 0.08

    def paragraph(
        self,
        text: str,
        size: float = 8.5,
        width: int = 110,
        colour: str = "#222222",
        box: str | None = None,
        bullet: bool = False,
    ) -> None:
        lines = textwrap.wrap(text, width=width - (3 if bullet else 0))
        if bullet and lines:
            lines = ["•  " + lines[0]] + ["    " + line for line in lines[1:]]
        height = len(lines) * size / 72 * 1.35 + 0.1
        self.need(height)
        top = self.y
        self.fig.text(
            MARGIN / PAGE_W + (0.1 / PAGE_W if box else 0),
            (top - 0.05) / PAGE_H,
            "\n".join(lines),
            fontsize=size,
            color=colour,
            va="top",
            linespacing=1.35,
        )
        if box:
            from matplotlib.patches import Rectangle

            self.fig.add_artist(
                Rectangle(
                    (MARGIN / PAGE_W - 0.03 / PAGE_W, (top - height - 0.02) / PAGE_H),
                    (PAGE_W - 2 * MARGIN) / PAGE_W,
                    (height + 0.04) / PAGE_H,
                    facecolor=box,
                    edgecolor="#e6a000",
                    lw=0.8,
                    zorder=-1,
                )
            )
        self.y -= height + 0.08

    @staticmethod
    def key_values_height(pairs: Sequence[tuple[str, str]]) -> float:
        """Height that :meth:`key_values` takes, inches."""
        return sum(len(textwrap.wrap(value, width=88) or [""]) * 0.17 + 0.03 for _, value in pairs) + 0.1

    @staticmethod
    def paragraph_height(text: str, size: float = 8.5, width: int = 110) -> float:
        """Height that :meth:`paragraph` takes, inches."""
        return len(textwrap.wrap(text, width=width)) * size / 72 * 1.35 + 0.18

    def key_values(self, pairs: Sequence[tuple[str, str]]) -> None:
        for key, value in pairs:
            lines = textwrap.wrap(value, width=88) or [""]
            height = len(lines) * 0.17 + 0.03
            self.need(height)
            self.fig.text(
                MARGIN / PAGE_W,
                (self.y - 0.03) / PAGE_H,
                key,
                fontsize=8.5,
                weight="bold",
                va="top",
                color="#333333",
            )
            self.fig.text(
                (MARGIN + 1.45) / PAGE_W,
                (self.y - 0.03) / PAGE_H,
                "\n".join(lines),
                fontsize=8.5,
                va="top",
                linespacing=1.3,
            )
            self.y -= height
        self.y -= 0.1

    def table(
        self,
        headings: Sequence[str],
        rows: Sequence[Sequence[str]],
        font: float = 7.2,
        title: str | None = None,
    ) -> None:
        """A table, split over pages when long; a short one moves whole to a new page with its ``title``."""
        rows = list(rows)
        layout = _table_layout(headings, rows, font, PAGE_W - 2 * MARGIN)
        head_h = layout.head_h
        if title is not None:
            title_h = 11 / 72 * 1.3 + 0.16
            available = int((self.y - title_h - 0.7 - head_h) / ROW_H) if self.fig is not None else 0
            if available < len(rows) and (available < 3 or len(rows) <= 15):
                self.new_page()
            self.heading(title, size=11, gap=0.08)
        start = 0
        while start < len(rows) or start == 0:
            available = int((self.y - 0.7 - head_h) / ROW_H) if self.fig is not None else 0
            fits_fresh = len(rows) - start <= int((PAGE_H - 1.4 - head_h) / ROW_H)
            if available < len(rows) - start and (available < 3 or (fits_fresh and len(rows) - start <= 15)):
                self.new_page()
                available = int((self.y - 0.7 - head_h) / ROW_H)
            chunk = rows[start : start + available]
            self._table_chunk(layout, chunk)
            start += len(chunk)
            if not chunk:
                break

    def _table_chunk(self, layout: _TableLayout, rows: Sequence[Sequence[str]]) -> None:
        height = len(rows) * ROW_H + layout.head_h
        width = PAGE_W - 2 * MARGIN
        ax = self.fig.add_axes((MARGIN / PAGE_W, (self.y - height) / PAGE_H, width / PAGE_W, height / PAGE_H))
        ax.axis("off")
        table = ax.table(
            cellText=[list(r) for r in rows] or None,
            colLabels=list(layout.headings),
            colWidths=[w / width for w in layout.widths_in],
            loc="upper left",
            cellLoc="right",
            colLoc="center",
            bbox=(0, 0, 1, 1),
        )
        table.auto_set_font_size(False)
        table.set_fontsize(layout.font)
        head_share = layout.head_h / height
        numeric = [
            c > 0 and all(str(r[c])[:1] in "+-–0123456789" for r in rows) for c in range(len(layout.headings))
        ]
        for (r, c), cell in table.get_celld().items():
            cell.set_height(head_share if r == 0 else (1 - head_share) / max(len(rows), 1))
            cell.set_edgecolor("#c8c8c8")
            cell.set_linewidth(0.5)
            if r == 0:
                cell.set_facecolor("#eef3f8")
                cell.get_text().set_weight("bold")
                cell.get_text().set_linespacing(1.15)
            elif not numeric[c]:
                cell.get_text().set_horizontalalignment("left")
                cell._loc = "left"
            if r > 0 and r % 2 == 0:
                cell.set_facecolor("#f8f8f8")
        self.y -= height + 0.2

    def table_height(
        self, headings: Sequence[str], rows: Sequence[Sequence[str]], font: float = 7.2
    ) -> float:
        """Height that :meth:`table` with a title takes when the table fits on the page, inches."""
        layout = _table_layout(headings, list(rows), font, PAGE_W - 2 * MARGIN)
        return 11 / 72 * 1.3 + 0.16 + layout.head_h + len(rows) * ROW_H + 0.2

    def axes(self, height_in: float, width_fraction: float = 0.72, keep_below_in: float = 0.0) -> Any:
        """Axes for a plot ``height_in`` tall; ``keep_below_in`` of what follows (a caption) stays with it."""
        self.need(height_in + 0.3 + keep_below_in)
        width = (PAGE_W - 2 * MARGIN) * width_fraction
        ax = self.fig.add_axes(
            (
                (MARGIN + 0.45) / PAGE_W,
                (self.y - height_in + 0.1) / PAGE_H,
                (width - 0.45) / PAGE_W,
                (height_in - 0.45) / PAGE_H,
            )
        )
        self.y -= height_in + 0.3
        return ax

    def comparison_panels(self, results: Sequence[PlanResult], names: Sequence[str], panel_h: float) -> None:
        """Overlaid DVH panels, two per row, each row drawn on the page it lands on."""
        cols = 2 if len(names) > 1 else 1
        width = (PAGE_W - 2 * MARGIN) / cols
        for start in range(0, len(names), cols):
            self.need(panel_h)
            row = list(names[start : start + cols])
            axes = []
            for c in range(len(row)):
                left = MARGIN + c * width + 0.5
                axes.append(
                    self.fig.add_axes(
                        (
                            left / PAGE_W,
                            (self.y - panel_h + 0.45) / PAGE_H,
                            (width - 0.75) / PAGE_W,
                            (panel_h - 0.75) / PAGE_H,
                        )
                    )
                )
            draw_comparison(axes, results, row)
            axes[0].legend(loc="upper right", fontsize=7, frameon=True, framealpha=0.9)
            self.y -= panel_h

    def image(self, png: bytes, caption: str) -> None:
        """A picture and its caption; a wide one (3:2 and wider) fills a landscape page of its own.

        On a portrait page a 1920 px wide comparison is printed at 270 px per inch, so its 18-20 px labels
        came out at about 5 pt (3 pt at the former 1800 x 800 and 15 px); across a landscape page they
        print at 180 px per inch, 7-8 pt.
        """
        from matplotlib.image import imread

        data = imread(io.BytesIO(png), format="png")
        h_px, w_px = data.shape[:2]
        if w_px >= 1.5 * h_px:
            self._landscape_image(data, caption)
            return
        width = PAGE_W - 2 * MARGIN
        height = min(width * h_px / w_px, PAGE_H - 2.2)
        width = height * w_px / h_px
        self.need(height + 0.5)
        left = (PAGE_W - width) / 2
        ax = self.fig.add_axes((left / PAGE_W, (self.y - height) / PAGE_H, width / PAGE_W, height / PAGE_H))
        ax.imshow(data, interpolation="lanczos")
        ax.axis("off")
        self.y -= height + 0.05
        self.paragraph(caption, size=8, colour="#555555")

    def _landscape_image(self, data: Any, caption: str) -> None:
        """A landscape page holding one wide picture as large as the margins allow, caption below."""
        h_px, w_px = data.shape[:2]
        page_w, page_h = PAGE_H, PAGE_W
        caption_lines = textwrap.wrap(caption, width=150)
        room_h = page_h - 1.3 - len(caption_lines) * 9 / 72 * 1.35
        width = min(page_w - 2 * MARGIN, room_h * w_px / h_px)
        height = width * h_px / w_px
        fig = self.new_page(landscape=True)
        top = page_h - 0.6
        left = (page_w - width) / 2
        ax = fig.add_axes((left / page_w, (top - height) / page_h, width / page_w, height / page_h))
        ax.imshow(data, interpolation="none")  # "none": embedded at its own pixels, not resampled to 100 dpi
        ax.axis("off")
        fig.text(
            (page_w - width) / 2 / page_w,
            (top - height - 0.08) / page_h,
            "\n".join(caption_lines),
            fontsize=9,
            color="#555555",
            va="top",
            linespacing=1.35,
        )
        self.pdf.savefig(fig)


def write_pdf(
    path: str | os.PathLike[str],
    results: Sequence[PlanResult],
    *,
    title: str = "hbiview dose report",
    images: Sequence[tuple[str, bytes | str | os.PathLike[str]]] = (),
    end_caps: str = "full",
    force: bool = False,
) -> Path:
    """Write the PDF report (A4): per plan a summary, DVH plot and tables; a comparison; images; limits."""
    from matplotlib.backends.backend_pdf import PdfPages

    with atomic_path(path, force=force) as tmp:
        with PdfPages(tmp, metadata={"Title": title, "Creator": f"hbiview {__version__}"}) as pdf:
            pages = _Pages(pdf, title)
            pages.new_page()
            pages.heading(title, size=18, gap=0.1)
            pages.paragraph(
                f"{len(results)} plan(s): "
                + ", ".join(r.label for r in results)
                + ". For comparison and teaching, "
                "not a clinical treatment planning system; the limits of the model are listed at the end.",
                size=9,
            )
            for result in results:
                # a plan starts on the page in hand when its heading and summary fit there, or 2 inches of
                # them (the summary goes on over the page); what follows fills the rest (a table, or a
                # smaller DVH plot); else on a new page
                text_h = 14 / 72 * 1.3 + 0.23 + pages.key_values_height(summary_lines(result))
                if result.lung_assessment is not None:
                    text_h += pages.paragraph_height(result.lung_assessment.text)
                room = pages.y - 0.7 if pages.fig is not None else 0.0
                if room < min(text_h, 2.0):
                    pages.new_page()
                pages.heading(result.label, size=14)
                pages.key_values(summary_lines(result))
                if result.lung_assessment is not None:
                    pages.paragraph(result.lung_assessment.text, size=8.5, box="#fff8e5")
                tables = [(display_table(result), "Dose-volume metrics")]
                marrow = marrow_table(result)
                if marrow is not None:
                    tables.append((marrow, "Active marrow"))
                # a DVH plot that no longer fits (even shrunk) would leave the rest of the page blank: the
                # tables that fit there come first (a short one before a longer one that does not), the
                # plot follows on the next page
                for table in list(tables):
                    if pages.y - 0.7 >= DVH_MIN_H + 0.3 + CAPTION_H:
                        break
                    (headings, rows), name = table
                    if pages.y - 0.7 >= pages.table_height(headings, rows):
                        pages.table(headings, rows, title=name)
                        tables.remove(table)
                # the plot shrinks (to DVH_MIN_H at least) rather than leave the bottom of a page blank
                room = pages.y - 0.7 - 0.3 - CAPTION_H
                dvh_h = DVH_H if room >= DVH_H or room < DVH_MIN_H else room
                draw_dvh(pages.axes(dvh_h, keep_below_in=CAPTION_H), result)
                if any(h.weighted_fraction is not None for h in result.dvhs.values()):
                    pages.y -= 0.02
                    pages.paragraph(
                        "Solid: % of each structure's volume. Dashed: % of the structure's active marrow "
                        "(marrow-weighted).",
                        size=7.5,
                        colour="#555555",
                    )
                for (headings, rows), name in tables:
                    pages.table(headings, rows, title=name)
            if len(results) > 1:
                names = shared_structures(results)
                pages.need(14 / 72 * 1.3 + 0.23 + (PANEL_H if names else HEAD_H + 3 * ROW_H))
                pages.heading("Comparison of plans", size=14)
                if names:
                    pages.comparison_panels(results, names, PANEL_H)
                pages.table(*difference_table(results), title=f"Differences from {results[0].label}")
            for caption, image in images:
                png = bytes(image) if isinstance(image, (bytes, bytearray)) else Path(image).read_bytes()
                pages.image(png, caption)
            pages.heading("Limits of this report", size=14)
            for text in limits(results, end_caps):
                pages.paragraph(text, size=8.5, bullet=True)
            pages.finish()
    return Path(path)
