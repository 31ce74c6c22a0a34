"""Real parts the tests and the benchmarks share: a free port, a PostgreSQL
server of their own, the scripted release day, plans for the poller, the SSH
front door driven through the real `ssh` client.

Nothing here imports pytest: `benchmarks/` runs with the package alone (and
the `bench` extra for the SSH parts, which need pyte). The tests decide what a
missing tool means (a skip or a failure); these modules only raise.
"""
