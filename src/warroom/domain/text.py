"""The one boundary between text someone else wrote and a person's terminal.

Messages, names, step texts, reasons, rationales, health `reason` strings from
endpoints: any of them may carry bytes a terminal acts on — CSI (`ESC [ 2 J`
clears the screen), OSC (`ESC ] 0;` retitles the window, OSC 8 hides a link,
OSC 52 writes the clipboard), DCS/APC strings, 8-bit C1 controls (0x9B is a
CSI on its own), BEL, backspace — or Unicode bidi overrides that make a line
read differently from what it says. Everything shown to a person passes
through `safe()` first, which keeps the text but makes every such character
visible and inert:

- C0 controls and DEL become their Unicode control pictures (ESC → ␛,
  BEL → ␇, BS → ␈), so `ESC[2J` reads as `␛[2J` and cannot act;
- C1 controls, bidi embeddings/overrides/isolates/marks, line and paragraph
  separators and lone surrogates become a visible escape (`\\x9b`, `\\u202e`).

Rich/Textual markup is never interpreted in this text (widgets build
`rich.text.Text`, not markup), so `[bold]` stays as typed.
"""

from __future__ import annotations

import re

# C1 controls, bidi controls (LRM, RLM, ALM, LRE..RLO, LRI..PDI), the Unicode
# line/paragraph separators (terminals and editors treat them as newlines) and
# lone surrogates (they cannot be encoded for a terminal at all).
_ESCAPED = re.compile(
    "[\x80-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)
_C0 = re.compile("[\x00-\x1f\x7f]")
_C0_KEEP_NEWLINES = re.compile("[\x00-\x09\x0b-\x1f\x7f]")


def _picture(match: re.Match[str]) -> str:
    code = ord(match.group())
    return "\u2421" if code == 0x7F else chr(0x2400 + code)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def safe(text: str, *, newlines: bool = False) -> str:
    """`text` with every control character, escape sequence introducer and
    bidi control made visible and inert; everything else kept as it is.

    With `newlines=True` a line feed stays a line break (for multi-line
    text shown in a box); otherwise it shows as ␊, so one message is one line.
    The result never contains a character in Unicode category Cc, a bidi
    control or a surrogate (the fuzz tests hold it to that).
    """
    if text.isprintable():
        return text  # the common case, and C-fast
    text = _ESCAPED.sub(_escape, text)
    return (_C0_KEEP_NEWLINES if newlines else _C0).sub(_picture, text)


def is_safe(text: str) -> bool:
    """True when `text` holds nothing `safe` would change (no newline either)."""
    return safe(text) == text
