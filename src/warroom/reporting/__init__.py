"""The post-release report, rendered: Markdown, HTML or JSON.

`warroom.domain.report` measures the record; this package only says it, and
uses nothing of warroom but the domain (an import contract in pyproject.toml
keeps it so). `render(report, fmt)` is the one entry point; the JSON shape is
versioned (`"schema": 1`) and described by `report.schema.json`, shipped
beside this module.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from warroom.domain.report import Report

FORMATS = ("md", "json", "html")


def render(report: Report, fmt: str) -> str:
    """`report` as text in `fmt` (one of FORMATS)."""
    from warroom.reporting.data import render_json
    from warroom.reporting.markdown import render_markdown
    from warroom.reporting.page import render_html

    renderers: dict[str, Callable[[Report], str]] = {
        "md": render_markdown,
        "json": render_json,
        "html": render_html,
    }
    return renderers[fmt](report)


def file_name(release: str, fmt: str = "md") -> str:
    """`warroom-report-v2.5.0.md`: a file name made from a release's name."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", release).strip("._") or "release"
    return f"warroom-report-{stem[:100]}.{fmt}"
