"""Fitting text into a pane without cutting a word in half."""

from __future__ import annotations

from rich.cells import cell_len


def brief(text: str, width: int) -> str:
    """`text` cut at a word boundary to fit `width` cells, ending in … when cut."""
    if cell_len(text) <= width:
        return text
    cut = text[: max(width - 1, 1)]
    while cut and cell_len(cut) > width - 1:
        cut = cut[:-1]
    space = cut.rfind(" ")
    return (cut[:space] if space > width // 2 else cut).rstrip(" :,;·") + "…"
