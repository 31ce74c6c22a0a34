"""The report as one self-contained HTML page: no network, nothing to fetch.

Writes the same document as the Markdown (document.py), with inline CSS,
and draws the two pictures itself — an inline SVG Gantt chart and a table of
the dependency waves coloured by final state — with their Mermaid source
kept below each. No script, stylesheet, font or image is referenced: a
browser with no network shows all of it. Every text goes through `safe`,
then `html.escape`.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import datetime, timedelta

from warroom.domain.lifecycle import DeployState
from warroom.domain.report import Report, ServiceEntry
from warroom.domain.text import safe
from warroom.domain.timeline import local
from warroom.reporting import document as d
from warroom.reporting import mermaid
from warroom.reporting.words import STATE_WORDS, duration

CSS = """
:root { color-scheme: light; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1f2328;
       max-width: 72rem; margin: 2rem auto; padding: 0 1.5rem; }
h1 { border-bottom: 2px solid #d0d7de; padding-bottom: .3rem; }
h2 { border-bottom: 1px solid #d0d7de; padding-bottom: .2rem; margin-top: 2.2rem; }
table { border-collapse: collapse; margin: .6rem 0; }
th, td { border: 1px solid #d0d7de; padding: .25rem .6rem; text-align: left; vertical-align: top; }
th { background: #f6f8fa; }
code, pre { font: 13px/1.4 ui-monospace, SFMono-Regular, Menlo, monospace; }
pre { background: #f6f8fa; padding: .8rem; overflow-x: auto; }
details { margin: .3rem 0 1rem; color: #59636e; }
svg text { font: 12px system-ui, sans-serif; fill: #1f2328; }
.waves td { border: none; padding: .3rem; }
.node { border: 2px solid; border-radius: 6px; padding: .3rem .6rem; min-width: 9rem; }
.node small { display: block; color: #59636e; }
"""


def _e(text: str) -> str:
    return html.escape(safe(text), quote=True)


def _ticks(start: datetime, end: datetime) -> tuple[datetime, timedelta]:
    """The first tick and the step: at most about ten ticks over the chart."""
    span = max(end - start, timedelta(minutes=1))
    for minutes in (1, 2, 5, 10, 15, 30, 60, 120, 240, 480, 1440):
        step = timedelta(minutes=minutes)
        if span / step <= 10:
            break
    seconds = int(step.total_seconds())
    epoch = int(start.timestamp())
    first = datetime.fromtimestamp(
        epoch - epoch % seconds + (seconds if epoch % seconds else 0), start.tzinfo
    )
    return first, step


def gantt_svg(report: Report) -> str:
    """Planned (grey) and actual (the final state's colour) bars per service."""
    zone = report.release.timezone
    rows = report.services
    spans: list[datetime] = []
    for s in rows:
        spans += [s.planned_start, s.planned_end]
        end = mermaid.actual_end(s, report)
        if s.started_at is not None and end is not None:
            spans += [s.started_at, end]
    if not spans:
        return "<p>No services.</p>\n"
    start, end = min(spans), max(spans)
    end = max(end, start + timedelta(minutes=1))
    label_w, chart_w, row_h, top = 170, 640, 30, 26
    width, height = label_w + chart_w + 20, top + row_h * len(rows) + 10

    def x(moment: datetime) -> float:
        return label_w + chart_w * (moment - start) / (end - start)

    parts = [
        f'<svg role="img" aria-label="planned vs actual per service" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}">'
    ]
    tick, step = _ticks(start, end)
    while tick <= end:
        tx = x(tick)
        parts.append(
            f'<line x1="{tx:.1f}" y1="{top - 6}" x2="{tx:.1f}" y2="{height - 6}" stroke="#eaeef2"/>'
            f'<text x="{tx:.1f}" y="{top - 10}" text-anchor="middle">'
            f"{local(tick, zone):%H:%M}</text>"
        )
        tick += step
    for number, s in enumerate(rows):
        y = top + number * row_h
        fill, stroke, _ = mermaid.COLOURS[s.state]
        parts.append(f'<text x="0" y="{y + 18}">{_e(s.name)}</text>')
        planned = f"{s.name} planned {duration(s.expected)}"
        parts.append(
            f'<rect x="{x(s.planned_start):.1f}" y="{y + 3}" '
            f'width="{max(x(s.planned_end) - x(s.planned_start), 2):.1f}" height="9" '
            f'fill="#d0d7de"><title>{_e(planned)}</title></rect>'
        )
        actual_end = mermaid.actual_end(s, report)
        if s.started_at is not None and actual_end is not None:
            took = f"{s.name}: {STATE_WORDS[s.state]}, {duration(actual_end - s.started_at)}"
            parts.append(
                f'<rect x="{x(s.started_at):.1f}" y="{y + 14}" '
                f'width="{max(x(actual_end) - x(s.started_at), 2):.1f}" height="11" '
                f'fill="{fill}" stroke="{stroke}"><title>{_e(took)}</title></rect>'
            )
    parts.append("</svg>")
    legend = "Grey: planned. Coloured: actual, in the colour of the state each service ends in."
    return "\n".join(parts) + f"\n<p><small>{legend}</small></p>\n"


def graph_html(report: Report) -> str:
    """The dependency waves left to right, each service coloured by its final state."""
    waves: dict[int, list[ServiceEntry]] = {}
    for s in report.services:
        waves.setdefault(s.wave, []).append(s)
    cells = []
    for number in sorted(waves):
        boxes = []
        for s in waves[number]:
            fill, stroke, colour = mermaid.COLOURS[s.state]
            needs = f"needs {', '.join(s.depends_on)}" if s.depends_on else "needs nothing"
            versions = f"{s.previous_version or '—'} → {s.version}"
            boxes.append(
                f'<div class="node" style="background:{fill};border-color:{stroke};color:{colour}">'
                f"<b>{_e(s.name)}</b> {STATE_WORDS[s.state]}<small>{_e(versions)}</small>"
                f"<small>{_e(needs)}</small></div>"
            )
        cells.append(f"<td><small>wave {number}</small>{''.join(boxes)}</td>")
    return f'<table class="waves"><tr>{"".join(cells)}</tr></table>\n'


def _legend(states: Sequence[DeployState]) -> str:
    return " ".join(
        f'<span class="node" style="background:{mermaid.COLOURS[s][0]};'
        f'border-color:{mermaid.COLOURS[s][1]}">{STATE_WORDS[s]}</span>'
        for s in states
    )


_TAGS = {
    d.Style.PLAIN: ("", ""),
    d.Style.BOLD: ("<strong>", "</strong>"),
    d.Style.ITALIC: ("<em>", "</em>"),
}


def _piece(text: d.Text) -> str:
    if isinstance(text, str):
        return _e(text)
    start, end = _TAGS[text.style]
    return f"{start}{_e(text.text)}{end}"


def _inline(text: d.Line) -> str:
    return "".join(map(_piece, text))


def _picture(figure: d.Figure, report: Report) -> str:
    if figure is d.Figure.GANTT:
        drawn, source = gantt_svg(report), mermaid.gantt(report)
    else:
        used = [state for state in DeployState if any(s.state is state for s in report.services)]
        drawn = graph_html(report) + f"<p>{_legend(used)}</p>\n"
        source = mermaid.graph(report)
    return (
        f"{drawn}<details><summary>Mermaid source (paste into a Markdown page)</summary>"
        f"<pre>{_e(source)}</pre></details>"
    )


def _block(item: d.Block, report: Report) -> str:
    match item:
        case d.Heading(level, text):
            return f"<h{level}>{_inline(text)}</h{level}>"
        case d.Paragraph(text):
            return f"<p>{_inline(text)}</p>"
        case d.Bullets(items):
            return "<ul>\n" + "".join(f"<li>{_inline(text)}</li>\n" for text in items) + "</ul>"
        case d.Table(header, rows):
            head = "".join(f"<th>{_e(cell)}</th>" for cell in header)
            body = "\n".join(
                "<tr><td>" + "</td><td>".join(map(_piece, row)) + "</td></tr>" for row in rows
            )
            return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>"
        case d.Picture(figure):
            return _picture(figure, report)
    raise AssertionError(f"no HTML for {item!r}")


def render_html(report: Report) -> str:
    body = "\n".join(_block(item, report) for item in d.build_document(report))
    title = _e(f"Release {report.release.name}: post-release report")
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{title}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
        f"{body}\n</body>\n</html>\n"
    )
