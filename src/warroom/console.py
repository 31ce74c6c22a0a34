"""Printing for people: the way every warroom command line talks.

Plans, people and endpoints wrote parts of what we print (names, step
texts, reasons): `safe` shows their control characters and escape
sequences inert, so none of them acts on the terminal. Shared by the
`warroom` command line and the simulator's own (warroom.health.simulator_cli),
which runs without it.
"""

from __future__ import annotations

import sys
from typing import NoReturn

import click

from warroom.domain.text import safe


def echo(text: str, *, err: bool = False) -> None:
    """Print one or more lines for a person, inert."""
    click.echo(safe(text, newlines=True), err=err)


def fail(message: str, code: int = 1) -> NoReturn:
    """Refuse: `warroom: MESSAGE` on stderr, then exit `code` (1: refused, 2: usage)."""
    echo(f"warroom: {safe(message)}", err=True)
    sys.exit(code)
