"""The sanitising boundary: every class of terminal-active text is made inert and visible."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from warroom.domain.text import safe

BIDI = {0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)}


def inert(text: str) -> bool:
    """Nothing a terminal would act on: no Cc, no bidi control, no surrogate, no separator."""
    return not any(
        unicodedata.category(ch) in {"Cc", "Cs", "Zl", "Zp"} or ord(ch) in BIDI for ch in text
    )


@pytest.mark.parametrize(
    ("name", "raw", "shown"),
    [
        ("CSI clear screen", "x \x1b[2J y", "x ␛[2J y"),
        ("CSI leave alternate screen", "\x1b[?1049l", "␛[?1049l"),
        ("OSC 0 window title", "\x1b]0;pwned\x07", "␛]0;pwned␇"),
        (
            "OSC 8 hyperlink",
            "\x1b]8;;http://evil/\x1b\\link\x1b]8;;\x1b\\",
            "␛]8;;http://evil/␛\\link␛]8;;␛\\",
        ),
        ("OSC 52 clipboard", "\x1b]52;c;cHduZWQ=\x07", "␛]52;c;cHduZWQ=␇"),
        ("DCS", "\x1bPq#0;2;0;0;0\x1b\\", "␛Pq#0;2;0;0;0␛\\"),
        ("APC", "\x1b_Gf=100;AAAA\x1b\\", "␛_Gf=100;AAAA␛\\"),
        ("C1 CSI", "a\x9b2Jb", "a\\x9b2Jb"),
        ("C1 OSC", "\x9d0;t\x9c", "\\x9d0;t\\x9c"),
        ("BEL", "ding\x07", "ding␇"),
        ("backspace", "good\x08\x08\x08\x08evil", "good␈␈␈␈evil"),
        ("carriage return", "ok\rFAILED", "ok␍FAILED"),
        ("DEL", "a\x7fb", "a␡b"),
        ("NUL", "a\x00b", "a␀b"),
        ("bidi override", "user\u202egnp.exe", "user\\u202egnp.exe"),
        ("bidi isolate", "\u2066x\u2069", "\\u2066x\\u2069"),
        ("line separator", "a\u2028b", "a\\u2028b"),
        ("lone surrogate", "a\ud800b", "a\\ud800b"),
        ("newline in one-line text", "a\nb", "a␊b"),
    ],
)
def test_each_class_is_shown_inert(name: str, raw: str, shown: str) -> None:
    assert safe(raw) == shown, name
    assert inert(safe(raw))


def test_plain_text_and_markup_are_kept_as_typed() -> None:
    for text in ["deploy api-gateway 2.5.0 ✓", "[bold]not markup[/bold]", "ünïcødé 🚀 ok", ""]:
        assert safe(text) == text


def test_newlines_may_stay_line_breaks_in_boxes() -> None:
    assert safe("one\ntwo\x1b[2J", newlines=True) == "one\ntwo␛[2J"


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_any_text_comes_out_inert(text: str) -> None:
    out = safe(text)
    assert inert(out)
    assert safe(out) == out  # idempotent: sanitising twice shows the same


@settings(max_examples=200, deadline=None)
@given(author=st.text(max_size=30), text=st.text(max_size=300), system=st.booleans())
def test_a_log_line_of_any_text_draws_no_control_character(
    author: str, text: str, system: bool
) -> None:
    """What the log pane draws for any message: inert, whoever wrote what."""
    from datetime import UTC, datetime

    from warroom.domain.snapshot import LogView
    from warroom.tui.widgets.comms_log import format_line

    class Release:
        timezone = "Europe/Berlin"
        window_start = datetime(2024, 3, 20, 14, 0, tzinfo=UTC)

    class Snapshot:
        release = Release()

    entry = LogView(
        1,
        datetime(2024, 3, 20, 13, 0, tzinfo=UTC),
        "system" if system else "message",
        author,
        None,
        None,
        text,
    )
    line = format_line(entry, Snapshot())  # type: ignore[arg-type]
    assert inert(line.plain), repr(line.plain)
