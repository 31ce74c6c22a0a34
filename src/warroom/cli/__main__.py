"""`python -m warroom.cli`: how `warroom demo` and `warroom serve-ssh` start their children."""

from warroom.cli import main

main()
