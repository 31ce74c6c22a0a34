"""The post-release report, rendered: Markdown, HTML or JSON.

`warroom.domain.report` measures the record; this package only says it, and
uses nothing of warroom but the domain (an import contract in pyproject.toml
keeps it so). `render(report, fmt)` is the one entry point; the JSON shape is
versioned (`"schema": 1`) and described by `report.schema.json`, shipped
beside this module.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    # Not at import: the CLI reads FORMATS, and needs none of the report's domain.
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


def save(path: Path, text: str) -> Path:
    """Write `text` to `path` whole: a reader of the file never sees half a
    report (written beside it, then moved over it). Returns the absolute path;
    OSError says why it could not."""
    target = path.expanduser().absolute()
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    try:
        partial.write_text(text, encoding="utf-8")
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return target
