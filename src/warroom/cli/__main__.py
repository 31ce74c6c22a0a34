"""`python -m warroom.cli`: the same program as `python -m warroom` (warroom/__main__.py)."""

from warroom.__main__ import main

main()
