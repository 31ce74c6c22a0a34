"""The `warroom` program: the `warroom` command and `python -m warroom` (how
`warroom demo` and `warroom serve-ssh` start their children).

Nothing is imported before the collector is paused for start-up
(warroom/collector.py says why and when it comes back).
"""

from __future__ import annotations

from warroom import collector


def main() -> None:
    collector.pause()
    from warroom.cli import main as cli

    cli(prog_name="warroom")


if __name__ == "__main__":
    main()
