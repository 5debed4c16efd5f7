"""The PDF report: A4 pages laid out by reportlab's platypus (flowing text, tables, embedded TrueType fonts).

This module imports reportlab and Pillow: :func:`hbiview.report.write_report` imports it only to write a PDF.

Text is set in DejaVu Sans (the TrueType font matplotlib ships), embedded as a subset, so that it is
selectable and copies as Unicode ("≥ 2 Gy", "cm³", "Δ"); tables repeat their heading row on every page they
span; each section is a bookmark. DVH plots are matplotlib figures drawn at the size they print and
embedded at 200 dpi; pictures (3D renders, slices) are embedded at their own pixels, a wide one on a
landscape page of its own.
"""

from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import io
import os
import struct
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from PIL import Image, UnidentifiedImageError
from reportlab.lib.colors import HexColor
from reportlab.lib.enums import TA_CENTER, TA_RIGHT
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.utils import ImageReader
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.pdfdoc import PDFDictionary, PDFName, PDFStream
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import (
    BaseDocTemplate,
    CondPageBreak,
    Flowable,
    Frame,
    KeepTogether,
    NextPageTemplate,
    PageBreak,
    PageTemplate,
    Paragraph,
    Table,
    TableStyle,
)
from reportlab.platypus.flowables import HRFlowable

from hbiview import __version__
from hbiview.errors import InputError
from hbiview.io.atomic import atomic_path
from hbiview.report.content import difference_table, display_table, limits, marrow_table, summary_lines
from hbiview.report.evaluate import PlanResult
from hbiview.report.figures import draw_comparison, dvh_figure, figure_png, shared_structures

__all__ = ["write_pdf"]

INCH = 72.0  # points
PAGE_W, PAGE_H = 595.27, 841.89  # A4 portrait, points
MARGIN = 0.6 * INCH
BLUE = "#1f4e79"
GREY = "#777777"
DPI = 200  # resolution of the embedded plots
DVH_H = 3.3 * INCH  # height of a plan's DVH plot
DVH_MIN_H = 2.3 * INCH  # the least height a DVH plot shrinks to, to fill a page
PANEL_H = 2.9 * INCH  # height of a row of comparison panels
SHORT_TABLE = 15  # rows: a table this short moves whole to the next page rather than split
FONT, BOLD = "DejaVuSans", "DejaVuSans-Bold"


def _register_fonts() -> tuple[str, str]:
    """Register DejaVu Sans (regular, bold) with reportlab; Helvetica if matplotlib's copy is not found.

    matplotlib ships DejaVu Sans (some Linux packages of matplotlib use the system's copy instead, which
    ``findfont`` finds). Helvetica, one of the PDF's standard fonts, has no "≥" nor "Δ".
    """
    from matplotlib.font_manager import FontProperties, findfont

    if FONT in pdfmetrics.getRegisteredFontNames():
        return FONT, BOLD
    try:
        regular = findfont(FontProperties(family="DejaVu Sans"), fallback_to_default=False)
        bold = findfont(FontProperties(family="DejaVu Sans", weight="bold"), fallback_to_default=False)
        pdfmetrics.registerFont(TTFont(FONT, regular))
        pdfmetrics.registerFont(TTFont(BOLD, bold))
    except (ValueError, OSError):
        return "Helvetica", "Helvetica-Bold"
    return FONT, BOLD


class _Styles:
    """The paragraph styles of the report, in the fonts that could be registered."""

    def __init__(self, regular: str, bold: str) -> None:
        self.regular, self.bold = self.fonts = regular, bold
        base = ParagraphStyle(
            "body",
            fontName=regular,
            bulletFontName=regular,
            fontSize=8.5,
            leading=11.5,
            textColor=HexColor("#222222"),
        )
        heading = ParagraphStyle("h", base, fontName=bold, textColor=HexColor(BLUE), keepWithNext=1)
        self.title = ParagraphStyle("title", heading, fontSize=18, leading=22, spaceAfter=4)
        self.h2 = ParagraphStyle("h2", heading, fontSize=14, leading=17, spaceBefore=10, spaceAfter=2)
        self.h3 = ParagraphStyle("h3", heading, fontSize=11, leading=14, spaceBefore=8, spaceAfter=4)
        self.h3_loose = ParagraphStyle("h3_loose", self.h3, keepWithNext=0)
        self.body = ParagraphStyle("intro", base, fontSize=9, leading=12, spaceAfter=8)
        self.key = ParagraphStyle("key", base, fontName=bold, textColor=HexColor("#333333"))
        self.value = base
        self.note = ParagraphStyle(
            "note",
            base,
            backColor=HexColor("#fff8e5"),
            borderColor=HexColor("#e6a000"),
            borderWidth=0.8,
            borderPadding=4,
            spaceBefore=8,
            spaceAfter=10,
        )
        self.caption = ParagraphStyle(
            "caption", base, fontSize=8, leading=10.5, textColor=HexColor("#555555")
        )
        self.bullet = ParagraphStyle("bullet", base, leftIndent=12, bulletIndent=2, spaceAfter=4)
        self.cell = ParagraphStyle("cell", base, leading=1.2 * 7.2)
        self.cell_right = ParagraphStyle("cell_right", self.cell, alignment=TA_RIGHT)
        self.cell_head = ParagraphStyle("cell_head", self.cell, fontName=bold, alignment=TA_CENTER)


def _p(text: str, style: Any) -> Any:
    """A paragraph of plain text (markup characters escaped, newlines kept)."""
    return Paragraph(escape(text).replace("\n", "<br/>"), style)


def _heading(text: str, style: Any, level: int) -> Any:
    """A heading that is also a bookmark (``level`` 0 or 1 in the outline); level 0 is ruled underneath."""
    paragraph = Paragraph(escape(text), style)
    paragraph.outline = (text, level)  # read by _Document.afterFlowable
    if level == 0:
        return [paragraph, HRFlowable(width="100%", thickness=1.2, color=style.textColor, spaceAfter=6)]
    return [paragraph]


def _column_widths(
    headings: Sequence[str], rows: Sequence[Sequence[str]], size: float, width: float, styles: _Styles
) -> tuple[float, list[float]]:
    """Font size and column widths (points) that fit a table into ``width``.

    A column is at least as wide as its widest cell and its headings' widest word (headings wrap at spaces);
    room left over goes to the columns whose headings would wrap most. If even that does not fit, the font
    shrinks, down to 5 pt.
    """
    pad = 2 * 3 + 1  # cell padding either side, and the grid line
    while True:
        regular, bold = (
            functools.partial(pdfmetrics.stringWidth, fontSize=size, fontName=f) for f in styles.fonts
        )
        body = [max([regular(r[c]) for r in rows] + [0.0]) for c in range(len(headings))]
        words = [max(bold(word) for word in h.split() or [""]) for h in headings]
        lines = [max(bold(line) for line in h.split("\n")) for h in headings]
        least = [max(b, w) + pad for b, w in zip(body, words)]
        wanted = [max(b, n) + pad for b, n in zip(body, lines)]
        if sum(least) <= width or size <= 5.0:
            break
        size -= 0.4
    if sum(wanted) <= width:
        return size, [w * width / sum(wanted) for w in wanted]
    spare, extra = width - sum(least), sum(w - m for w, m in zip(wanted, least))
    widths = [m + (w - m) * spare / extra if extra > 0 else m for w, m in zip(wanted, least)]
    return size, [w * width / sum(widths) for w in widths]


def _table(headings: Sequence[str], rows: Sequence[Sequence[str]], styles: _Styles, width: float) -> Any:
    """A grid table whose heading row repeats on every page it spans; numbers right-aligned."""
    size, widths = _column_widths(headings, rows, 7.2, width, styles)
    head, left, right = (
        ParagraphStyle(s.name, s, fontSize=size, leading=1.2 * size)
        for s in (styles.cell_head, styles.cell, styles.cell_right)
    )
    numeric = [c > 0 and all(r[c][:1] in "+-–0123456789" for r in rows) for c in range(len(headings))]
    data = [[_p(h, head) for h in headings]]
    data += [[_p(cell, right if numeric[c] else left) for c, cell in enumerate(row)] for row in rows]
    style = [
        ("FONTNAME", (0, 0), (-1, -1), styles.regular),  # else Helvetica is listed (unused, not embedded)
        ("GRID", (0, 0), (-1, -1), 0.5, HexColor("#c8c8c8")),
        ("BACKGROUND", (0, 0), (-1, 0), HexColor("#eef3f8")),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("LEFTPADDING", (0, 0), (-1, -1), 3),
        ("RIGHTPADDING", (0, 0), (-1, -1), 3),
        ("TOPPADDING", (0, 0), (-1, -1), 2),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2.5),
        ("ROWBACKGROUNDS", (0, 1), (-1, -1), [HexColor("#ffffff"), HexColor("#f8f8f8")]),
    ]
    return Table(data, colWidths=widths, repeatRows=1, style=TableStyle(style), hAlign="LEFT")


def _titled_table(
    title: str, headings: Sequence[str], rows: Sequence[Sequence[str]], styles: _Styles, width: float
) -> list[Any]:
    """A table under its heading: a short one moves whole to the next page, a long one splits."""
    table = _table(headings, rows, styles, width)
    if len(rows) <= SHORT_TABLE:
        return [KeepTogether([*_heading(title, styles.h3, 1), table])]
    # the heading, the heading row and 3 rows, or a new page; not kept with the table as a whole (which
    # would move a table that fits a page to the next one, leaving this one half blank)
    return [CondPageBreak(60 + 4 * 12), *_heading(title, styles.h3_loose, 1), table]


def _png_stream(png: bytes) -> Any | None:
    """An image XObject holding a PNG's own compressed pixels, or ``None`` if it is not a plain PNG.

    PNG stores its pixels as one deflate stream of rows, each with a filter byte: what PDF's FlateDecode
    with a PNG predictor reads, so the picture is embedded as it is (reportlab decompresses a picture and
    compresses it again, without predictor and in ASCII85: about twice the size, and slower). Plain: 8-bit
    grey or RGB, not interlaced.
    """
    if png[:8] != b"\x89PNG\r\n\x1a\n" or png[12:16] != b"IHDR":
        return None
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", png[16:29])
    colours = {0: 1, 2: 3}.get(colour)
    if colours is None or depth != 8 or interlace:
        return None
    chunks, pos = [], 8
    while pos + 8 <= len(png):
        length, kind = struct.unpack(">I4s", png[pos : pos + 8])
        if kind == b"IDAT":
            chunks.append(png[pos + 8 : pos + 8 + length])
        pos += 12 + length
    stream = PDFStream(content=b"".join(chunks))
    stream.dictionary.dict.update(
        Type=PDFName("XObject"),
        Subtype=PDFName("Image"),
        Width=width,
        Height=height,
        BitsPerComponent=8,
        ColorSpace=PDFName("DeviceRGB" if colours == 3 else "DeviceGray"),
        Filter=PDFName("FlateDecode"),  # one filter: a name, and its DecodeParms a dictionary
        DecodeParms=PDFDictionary(
            {"Predictor": 15, "Colors": colours, "BitsPerComponent": 8, "Columns": width}
        ),
    )
    return stream


def _draw_png(canvas: Any, png: bytes, width: float, height: float) -> None:
    """Draw a picture into the box (0, 0, ``width``, ``height``) points, a plain PNG embedded as it is."""
    if png[:3] == b"\xff\xd8\xff":  # a JPEG: reportlab embeds it as it is
        canvas.drawImage(ImageReader(io.BytesIO(png)), 0, 0, width, height)
        return
    stream = _png_stream(png)
    if stream is None:  # transparency, a palette, 16 bits, interlaced, another format: as 8-bit RGB
        png = _rgb_png(png)
        stream = _png_stream(png)
    # what canvas.drawImage does for its own image objects: the XObject once per document, used by name
    name = "png" + hashlib.sha1(png).hexdigest()
    internal = canvas._doc.getXObjectName(name)
    if internal not in canvas._doc.idToObject:
        canvas._doc.addForm(name, stream)
    canvas.saveState()
    canvas.scale(width, height)
    canvas._code.append(f"/{internal} Do")
    canvas.restoreState()
    canvas._formsinuse.append(name)
    canvas._currentPageHasImages = 1


def _as_made(png: bytes) -> Callable[[float, float], bytes]:
    """A picture that is what it is at any size (for :class:`_Picture`)."""
    return lambda width_in, height_in: png


def _rgb_png(png: bytes) -> bytes:
    """A picture (a matplotlib PNG is RGBA, on an opaque page) as an 8-bit RGB PNG, what PDF embeds as is."""
    out = io.BytesIO()
    with Image.open(io.BytesIO(png)) as picture:
        picture.convert("RGB").save(out, format="png")
    return out.getvalue()


class _Picture(Flowable):
    """A picture made by ``png(width_in, height_in)`` at the size it prints.

    It is ``height`` tall (or less, down to ``least``, to fill a page), ``share`` of the frame's width.
    """

    def __init__(
        self,
        png: Callable[[float, float], bytes],
        height: float,
        least: float | None = None,
        share: float = 1.0,
        align: str = "LEFT",
    ) -> None:
        super().__init__()
        self.png, self.preferred, self.share, self.hAlign = png, height, share, align
        self.least = height if least is None else least

    def wrap(self, avail_w: float, avail_h: float) -> tuple[float, float]:
        fits = self.least <= avail_h < self.preferred
        self.width, self.height = avail_w * self.share, avail_h if fits else self.preferred
        return self.width, self.height

    def draw(self) -> None:
        _draw_png(self.canv, self.png(self.width / INCH, self.height / INCH), self.width, self.height)


def _plot(
    make: Callable[[float, float], Any], height: float, least: float | None = None, share: float = 1.0
) -> Any:
    """A flowable drawing the matplotlib figure ``make(width_in, height_in)`` at the size it prints."""
    return _Picture(lambda w, h: _rgb_png(figure_png(make(w, h), dpi=DPI)), height, least, share)


class _PlotThenTables(Flowable):
    """A plan's DVH plot (and its caption) and tables, placed so that no page is left half blank.

    The plot comes first when it fits the room left on the page (shrunk if need be); when it does not,
    the tables that fit there come first (a short one before a longer one that does not) and the plot
    follows on the next page.
    """

    def __init__(self, plot: list[Any], tables: list[list[Any]]) -> None:
        super().__init__()
        self.plot, self.tables = plot, tables

    def wrap(self, avail_w: float, avail_h: float) -> tuple[float, float]:
        return avail_w, avail_h + 1  # never drawn itself: split() orders its parts for this page

    def split(self, avail_w: float, avail_h: float) -> list[Any]:
        def height(flowables: Sequence[Any]) -> float:
            """Height of flowables one below the other (of the parts of a KeepTogether), points."""
            return sum(
                height(f._content)
                if hasattr(f, "_content")
                else f.wrapOn(self.canv, avail_w, avail_h)[1] + f.getSpaceBefore() + f.getSpaceAfter()
                for f in flowables
            )

        room, first, rest = avail_h, [], list(self.tables)
        least = self.plot[0].least + height(self.plot[1:]) + 12
        for table in list(rest):
            if room >= least:
                break
            if height(table) <= room:
                first += table
                rest.remove(table)
                room -= height(table)
        if room < least and not first:
            return []  # neither fits: a new page, where the plot comes first
        return [*first, *self.plot, *[f for table in rest for f in table]]


def _comparison_row(results: Sequence[PlanResult], names: Sequence[str]) -> Callable[[float, float], Any]:
    """A row of overlaid-DVH panels (one per structure in ``names``) drawn at the size it prints."""

    def make(width_in: float, height_in: float) -> Any:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        fig = Figure(figsize=(width_in, height_in), layout="constrained")
        FigureCanvasAgg(fig)
        axes = [fig.add_subplot(1, len(names), i + 1) for i in range(len(names))]
        draw_comparison(axes, results, names)
        axes[0].legend(loc="upper right", fontsize=7, frameon=True, framealpha=0.9)  # fits a lone panel
        return fig

    return make


class _Document(BaseDocTemplate):
    def afterFlowable(self, flowable: Any) -> None:
        """Each heading (and picture) becomes a bookmark in the PDF's outline."""
        if getattr(flowable, "outline", None):
            text, level = flowable.outline
            self.bookmarks = (
                getattr(self, "bookmarks", 0) + 1
            )  # a key of its own (ids of drawn flowables recur)
            key = f"s{self.bookmarks}"
            self.canv.bookmarkPage(key)
            self.canv.addOutlineEntry(text, key, level=level, closed=level > 0)


def _document(tmp: Path, title: str, results: Sequence[PlanResult], styles: _Styles) -> Any:
    """The document: portrait and landscape A4 page templates with running head, footer and outline."""
    stamp = f"hbiview {__version__} · {_dt.datetime.now(_dt.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}"

    def running_title(page_w: float) -> str:
        """The title, cut short with an ellipsis so that it never meets the version stamp."""
        room = page_w - 2 * MARGIN - pdfmetrics.stringWidth(stamp, styles.regular, 8) - 0.3 * INCH
        text = title
        while len(text) > 1 and pdfmetrics.stringWidth(text, styles.regular, 8) > room:
            text = text[:-2].rstrip() + "…"
        return text

    def decorate(canvas: Any, doc: Any) -> None:
        page_w, page_h = canvas._pagesize
        canvas.saveState()
        canvas.setFillColor(HexColor(GREY))
        canvas.setFont(styles.regular, 8)
        canvas.drawString(MARGIN, page_h - 0.38 * INCH, running_title(page_w))
        canvas.drawRightString(page_w - MARGIN, page_h - 0.38 * INCH, stamp)
        canvas.setFont(styles.regular, 7.5)
        footer = f"page {doc.page} · for comparison and teaching, not for clinical use"
        canvas.drawCentredString(page_w / 2, 0.3 * INCH, footer)
        canvas.restoreState()

    plans = ", ".join(r.label for r in results)
    doc = _Document(
        str(tmp),
        pagesize=(PAGE_W, PAGE_H),
        title=title,
        author="hbiview",
        subject=f"Dose-volume report of {len(results)} plan(s): {plans}",
        creator=f"hbiview {__version__}",
        keywords=["radiotherapy", "dose-volume histogram", *[r.label for r in results]],
        lang="en",
        displayDocTitle=1,
        initialFontName=styles.regular,  # else every page sets Helvetica first, listed as a font not embedded
    )
    templates = []
    for name, (w, h) in (("portrait", (PAGE_W, PAGE_H)), ("landscape", (PAGE_H, PAGE_W))):
        frame = Frame(MARGIN, 0.5 * INCH, w - 2 * MARGIN, h - 1.05 * INCH, 0, 0, 0, 0, id=name)
        templates.append(PageTemplate(id=name, frames=[frame], onPage=decorate, pagesize=(w, h)))
    doc.addPageTemplates(templates)
    return doc


def _story(
    results: Sequence[PlanResult],
    title: str,
    images: Sequence[tuple[str, bytes, tuple[int, int]]],
    end_caps: str,
    styles: _Styles,
) -> list[Any]:
    """The flowables of the report, top to bottom."""
    width = PAGE_W - 2 * MARGIN
    story: list[Any] = [_p(title, styles.title)]
    story.append(
        _p(
            f"{len(results)} plan(s): {', '.join(r.label for r in results)}. For comparison and teaching, "
            "not a clinical treatment planning system; the limits of the model are listed at the end.",
            styles.body,
        )
    )
    for result in results:
        story += [CondPageBreak(2 * INCH), *_heading(result.label, styles.h2, 0)]
        pairs = [[_p(key, styles.key), _p(value, styles.value)] for key, value in summary_lines(result)]
        story.append(
            Table(
                pairs,
                colWidths=[1.45 * INCH, width - 1.45 * INCH],
                hAlign="LEFT",
                style=_summary_style(styles),
            )
        )
        if result.lung_assessment is not None:
            story.append(_p(result.lung_assessment.text, styles.note))
        plot = [_plot(functools.partial(dvh_figure, result), DVH_H, DVH_MIN_H)]
        if any(h.weighted_fraction is not None for h in result.dvhs.values()):
            caption = "Solid: % of each structure's volume. Dashed: % of the structure's active marrow"
            plot.append(_p(caption + " (marrow-weighted).", styles.caption))
        tables = [_titled_table("Dose-volume metrics", *display_table(result), styles, width)]
        marrow = marrow_table(result)
        if marrow is not None:
            tables.append(_titled_table("Active marrow", *marrow, styles, width))
        story.append(_PlotThenTables(plot, tables))
    if len(results) > 1:
        names = shared_structures(results)
        story += [CondPageBreak(PANEL_H + 0.5 * INCH), *_heading("Comparison of plans", styles.h2, 0)]
        cols = 2 if len(names) > 1 else 1
        for start in range(0, len(names), cols):
            row = names[start : start + cols]
            story.append(_plot(_comparison_row(results, row), PANEL_H, share=len(row) / cols))
        story += _titled_table(
            f"Differences from {results[0].label}", *difference_table(results), styles, width
        )
    landscape = False
    for caption, png, (w_px, h_px) in images:
        outline = caption if len(caption) <= 60 else caption[:59].rstrip(" ,;:") + "…"
        if w_px >= 1.5 * h_px:  # a wide picture fills a landscape page of its own, at its own pixels
            lines = 1 + len(caption) // 150
            room_w, room_h = PAGE_H - 2 * MARGIN, PAGE_W - 1.3 * INCH - lines * 12
            pic_w, share = min(room_w, room_h * w_px / h_px), min(1.0, room_h * w_px / h_px / room_w)
            story += [NextPageTemplate("landscape"), PageBreak()]
            landscape = True
        else:
            pic_w = min(width, (PAGE_H - 2.2 * INCH) * w_px / h_px)
            share = pic_w / width
            if landscape:
                story += [NextPageTemplate("portrait"), PageBreak()]
                landscape = False
        picture = _Picture(_as_made(png), pic_w * h_px / w_px, share=share, align="CENTER")
        picture.outline = (outline, 0)
        story.append(KeepTogether([picture, _p(caption, styles.caption)]))
    if landscape:
        story += [NextPageTemplate("portrait"), PageBreak()]
    story += _heading("Limits of this report", styles.h2, 0)
    story += [_bullet(text, styles) for text in limits(results, end_caps)]
    return story


def _summary_style(styles: _Styles) -> Any:
    return TableStyle(
        [
            ("FONTNAME", (0, 0), (-1, -1), styles.regular),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("LEFTPADDING", (0, 0), (-1, -1), 0),
            ("TOPPADDING", (0, 0), (-1, -1), 1),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
        ]
    )


def _bullet(text: str, styles: _Styles) -> Any:
    return Paragraph(escape(text), styles.bullet, bulletText="•")


def _read_picture(caption: str, image: bytes | str | os.PathLike[str]) -> tuple[str, bytes, tuple[int, int]]:
    """Caption, bytes and size (width, height in pixels) of a picture, checked before anything is written."""
    if isinstance(image, (bytes, bytearray)):
        data, where = bytes(image), ""
    else:
        where = f"{os.fspath(image)}: "
        try:
            data = Path(image).read_bytes()
        except OSError as exc:
            raise InputError(f"{where}cannot read picture {caption!r}: {exc.strerror or exc}") from exc
    try:
        with Image.open(io.BytesIO(data)) as picture:
            return caption, data, picture.size
    except UnidentifiedImageError as exc:
        raise InputError(f"{where}picture {caption!r} is not an image file (PNG or JPEG expected)") from exc


def write_pdf(
    path: str | os.PathLike[str],
    results: Sequence[PlanResult],
    *,
    title: str = "hbiview dose report",
    images: Sequence[tuple[str, bytes | str | os.PathLike[str]]] = (),
    end_caps: str = "full",
    force: bool = False,
) -> Path:
    """Write the PDF report (A4): per plan a summary, DVH plot and tables; a comparison; pictures; limits.

    Parameters
    ----------
    path
        The PDF file; written under a temporary name and renamed when complete.
    results
        Evaluated plans (:func:`hbiview.report.evaluate_plans`).
    title
        Title of the report, its running head and its document properties.
    images
        Pictures ``(caption, PNG bytes or path)``; one at least 1.5 times as wide as tall gets a landscape
        page of its own.
    end_caps
        How contour planes became volumes, for the limits section (see :func:`hbiview.report.content.limits`).
    force
        Replace an existing file.

    Returns
    -------
    pathlib.Path
        The file written.
    """
    pictures = [_read_picture(caption, image) for caption, image in images]
    styles = _Styles(*_register_fonts())
    with atomic_path(path, force=force) as tmp:
        doc = _document(tmp, title, results, styles)
        doc.build(_story(results, title, pictures, end_caps, styles))
    return Path(path)
