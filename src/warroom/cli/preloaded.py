"""`python -m warroom.cli.preloaded FD`: the helper `warroom serve-ssh` forks
sessions' apps from (warroom.ssh.preload explains why and how).

It is the warroom program, loaded once: each session's app is `warroom
ARGV` run in a fork of it, exactly as a fresh process would run it.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence


def run_argv(argv: Sequence[str]) -> int:
    """Run `warroom ARGV` in this process (a fork of the helper); its exit status."""
    from warroom import collector
    from warroom.cli import main

    collector.pause()  # as the `warroom` program starts (warroom/__main__.py)

    try:
        main(args=list(argv), prog_name="warroom")
    except SystemExit as exit_:
        if exit_.code is None:
            return 0
        return exit_.code if isinstance(exit_.code, int) else 1
    return 0


def _load() -> None:
    # Everything a session's app imports before its first frame, and the
    # command layer it imports just after (a fresh `warroom` waits for the
    # ORM only once its room is drawn: tui/app.py `_prepare_commands`). Here,
    # loaded once and shared by every fork, it costs a session no memory.
    import warroom.commands.execute
    import warroom.ssh.remote
    import warroom.store.feed
    import warroom.tui.screens.dashboard
    import warroom.tui.screens.help  # noqa: F401


if __name__ == "__main__":
    from warroom.ssh.preload import serve_forks

    _load()
    serve_forks(int(sys.argv[1]), run_argv)
