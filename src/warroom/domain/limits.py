"""How big a plan may be: the bounds that keep a hostile plan file from
exhausting the process, and the database's column lengths as the plan sees
them.

`warroom check` enforces all of these, so that whatever `load` would refuse
on SQLite or PostgreSQL is refused first, with a location. The text lengths
mirror the columns in `store/models.py` (the domain may not import the
store); tests/test_plan_limits.py holds the two together.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

# The plan file itself. The sample is about 5 KB; the benchmarks' plan of
# 1,000 services and 3,000 dependencies is 210 KB and 20,400 values.
MAX_PLAN_BYTES = 1024 * 1024
# Values (scalars, lists, mappings, keys), counting an alias's value each
# time it is used: the cap that makes a "billion laughs" plan fail fast
# instead of eating memory.
MAX_PLAN_VALUES = 100_000
MAX_PLAN_DEPTH = 32

# Every duration written in a plan (expected_duration, health interval and
# timeout, a rollback's expected_duration, a rule's `for`): a release day,
# generously. Longer is a typo, and would overflow the database's integers.
MAX_DURATION = timedelta(days=7)
# The planned schedule, first service's start to last service's end.
MAX_SCHEDULE = timedelta(days=366)
# Timestamps: anything a real release uses, far from datetime's own edges
# so that adding a schedule to them can never overflow.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)

# Column lengths (characters) of the text the plan puts in the database.
RELEASE_LENGTH = 200  # release.name
NAME_LENGTH = 100  # people, teams, services, owners, triggers
TIMEZONE_LENGTH = 64  # release.timezone
VERSION_LENGTH = 100  # service.version, service.previous_version
TEXT_LENGTH = 500  # runbook steps, checklist items, trigger descriptions
URL_LENGTH = 500  # service.health_url
COMMAND_LENGTH = 500  # service.rollback_command
WHEN_LENGTH = 300  # trigger_rule.when
RRULE_LENGTH = 300  # freeze.rrule
# ssh_keys are stored as JSON text; one key line of an RSA-16384 key is
# about 2.8 KB, so this only stops pasted garbage.
SSH_KEY_LENGTH = 8192
# Rules: `health failing for N checks`.
MAX_CHECKS = 10_000
