"""Plan files: the one place a plan comes off the disk.

`warroom check`, `warroom load` and `warroom simulate` read plans here, so a
file that one of them refuses, the others refuse with the same located
sentence. Reading is bounded (a regular file, at most MAX_PLAN_BYTES, never
blocking on a FIFO) and decodes UTF-8 strictly; the domain then parses and
validates the text (warroom.domain.plan), which does no I/O itself.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from typing import NamedTuple

from warroom.domain import limits
from warroom.domain.plan import Plan, PlanInvalid, PlanIssue, parse_plan_text, too_big


class PlanFile(NamedTuple):
    plan: Plan
    text: str  # as read: `load` keeps it, so loading the same file again is recognised


def read_plan(path: str, env: Mapping[str, str] | None = None) -> PlanFile:
    """Read and validate the plan file at `path`; PlanInvalid (carrying `path`) for
    any problem, reading included. With `env` (`check` and `load` pass
    os.environ), the environment variables the plan names for secrets
    (`notify:`, `metrics.prometheus`) are looked up there too."""
    text = read_plan_text(path)
    return PlanFile(parse_plan_text(text, source=path, env=env), text)


def read_plan_text(path: str) -> str:
    """The text of a plan file, read with bounds. PlanInvalid when it cannot
    be read, is not a regular file (a pipe, a device, a directory), is larger
    than MAX_PLAN_BYTES or is not UTF-8 (naming the line). Never blocks on a FIFO."""

    def refuse(message: str, line: int | None = None) -> PlanInvalid:
        return PlanInvalid([PlanIssue("", message, line)], path)

    try:
        # O_NONBLOCK: opening a FIFO for reading would wait for a writer.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise refuse(f"cannot read the plan: {exc.strerror}") from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise refuse("the plan is a directory: name the plan's YAML file")
        if not stat.S_ISREG(mode):
            raise refuse(
                "the plan is not a regular file (a pipe or a device?): save it to a file first"
            )
        # Read one byte past the cap, so "exactly the cap" and "more" differ.
        data = b""
        while len(data) <= limits.MAX_PLAN_BYTES:
            chunk = os.read(fd, limits.MAX_PLAN_BYTES + 1 - len(data))
            if not chunk:
                break
            data += chunk
    except OSError as exc:
        raise refuse(f"cannot read the plan: {exc.strerror}") from None
    finally:
        os.close(fd)
    if len(data) > limits.MAX_PLAN_BYTES:
        raise refuse(too_big(len(data)))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise refuse(
            f"the plan is not UTF-8 text (byte {exc.start + 1} is not): save it as UTF-8", line
        ) from None
