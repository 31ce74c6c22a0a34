"""The report as Markdown (GitHub-flavoured): for a wiki page or a pull request.

Writes the document (document.py). Every run of text goes through `md()`:
control characters shown inert (`safe`), then every character Markdown or
HTML would act on escaped, so nothing anyone wrote can become a link, a
heading, a table column, math or raw HTML. The two pictures are Mermaid
(mermaid.py), which GitHub and GitLab draw.
"""

from __future__ import annotations

from warroom.domain.report import Report
from warroom.domain.text import safe
from warroom.reporting import document as d
from warroom.reporting import mermaid

# Backslash-escaped: what starts emphasis, code, links, math, strikethrough or
# a table column anywhere in a line (line-start syntax cannot occur: every
# line starts with a block's own mark or our own words); HTML's own three
# as entities. One pass (str.translate): a long day has 200,000 cells.
_ESCAPES = str.maketrans(
    {char: "\\" + char for char in "\\`*_[]|~$#"} | {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
)


def md(text: str) -> str:
    """`text` as Markdown that shows exactly `text` (one line)."""
    return safe(text).translate(_ESCAPES)


_MARKS = {d.Style.PLAIN: "", d.Style.BOLD: "**", d.Style.ITALIC: "*"}


def piece(text: d.Text) -> str:
    if isinstance(text, str):
        return md(text)
    mark = _MARKS[text.style]
    return f"{mark}{md(text.text)}{mark}"


def inline(text: d.Line) -> str:
    return "".join(map(piece, text))


def block(item: d.Block, report: Report) -> str:
    match item:
        case d.Heading(level, text):
            return f"{'#' * level} {inline(text)}"
        case d.Paragraph(text):
            return inline(text)
        case d.Bullets(items):
            return "\n".join(f"- {inline(text)}" for text in items)
        case d.Table(header, rows):
            lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
            lines += ["| " + " | ".join(map(piece, row)) + " |" for row in rows]
            return "\n".join(lines)
        case d.Picture(figure):
            source = mermaid.gantt(report) if figure is d.Figure.GANTT else mermaid.graph(report)
            return f"```mermaid\n{source}```"
    raise AssertionError(f"no Markdown for {item!r}")


def render_markdown(report: Report) -> str:
    return "\n\n".join(block(item, report) for item in d.build_document(report)) + "\n"
