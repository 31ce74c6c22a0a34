"""The cyclic garbage collector through a `warroom` process's start-up.

Starting warroom builds objects that live as long as the process (modules,
classes, the plan, the drawn room: some 180,000 for the sample plan) and
next to no cyclic garbage, and the collector, with its default thresholds,
walks that growing heap again and again while it is built. Measured on a
2-core box (benchmarks/bench_tui.py): a fifth of the sample plan's first
frame (0.92 s -> 0.71 s) and a third of a 1,000-service one (2.8 s -> 1.8 s);
a cold `warroom status` or `say` pays it too.

So the `warroom` program (warroom/__main__.py) starts with the collector
off (`pause`). A one-shot command ends with it off: the process is gone
before garbage matters. A long-running one turns it back on: the war room
once its first read is on screen (`settle`, which also moves what exists
then out of the collector's sight, so later full collections do not walk it
again), every other long-running command as it starts (`resume`, from the
command line's group; see warroom/cli/__init__.py). Code that imports
warroom as a library (the tests, an embedding program) never pauses it.
"""

from __future__ import annotations

import gc


class _State:
    paused = False  # `pause` turned the collector off, and nothing turned it back on


def pause() -> None:
    """Turn the collector off for start-up, if it is on."""
    if gc.isenabled():
        gc.disable()
        _State.paused = True


def paused() -> bool:
    """Whether `pause` turned the collector off and nothing has turned it back on."""
    return _State.paused


def resume() -> None:
    """Turn the collector back on, if `pause` turned it off."""
    if _State.paused:
        _State.paused = False
        gc.enable()


def settle() -> None:
    """Start-up is over and what exists now lives as long as the process:
    collect once (so no garbage is kept for good), freeze what is left, and
    turn the collector back on if `pause` turned it off."""
    gc.collect()
    gc.freeze()
    resume()
