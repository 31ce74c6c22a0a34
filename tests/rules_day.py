"""The sample release with rules on trial: a plan whose triggers use every option.

`RULES_PLAN` is the sample plan with three more triggers on api-gateway:

- `blind`: `error_rate > 1% for 2m`, asking the release manager after three
  samples in a row without an error rate (`no_data: inconclusive`);
- `trial`: `error_rate > 0.5% for 30s`, a dry run;
- `capped`: `p99_ms > 500 for 1m`, tolerating two failed probes in a row
  (`error_limit: 2`).

`deployed` loads it, records GO and starts api-gateway's deploy at 14:00,
when the window opens (so its rules watch it); `Feed` records samples through the poller's own command,
one flush per sample, with the clock at the sample's time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from tests.conftest import SAMPLE, WINDOW_OPENS, check_everything
from warroom.clock import FixedClock
from warroom.commands import Commands
from warroom.commands.health import HealthCommands, Recorded
from warroom.commands.load import load_plan
from warroom.domain.health import Sample
from warroom.domain.plan import parse_plan_text
from warroom.store.engine import Store

EXTRA_TRIGGERS = """\
  - {name: blind, when: "error_rate > 1% for 2m", services: [api-gateway], no_data: inconclusive, inconclusive_after: 3}
  - {name: trial, when: "error_rate > 0.5% for 30s", services: [api-gateway], dry_run: true}
  - {name: capped, when: "p99_ms > 500 for 1m", services: [api-gateway], error_limit: 2}
"""
_SAMPLE = SAMPLE.read_text(encoding="utf-8")
_LAST_TRIGGER = _SAMPLE.index("\n", _SAMPLE.index("  - {name: error-rate-trial,")) + 1
RULES_PLAN = _SAMPLE[:_LAST_TRIGGER] + EXTRA_TRIGGERS + _SAMPLE[_LAST_TRIGGER:]
TTL = timedelta(hours=1)
EVERY = timedelta(seconds=5)
SERVICE = "api-gateway"


def deployed(store: Store, clock: FixedClock, plan: str = RULES_PLAN) -> Store:
    """`plan` (RULES_PLAN) loaded, GO recorded at 13:20 and api-gateway
    deploying from 14:00, when the window opens."""
    load_plan(store, parse_plan_text(plan), plan, loaded_by="sarah", clock=clock)
    check_everything(store, clock)
    Commands(store, clock, "sarah").decide("go", rationale="all teams ready")
    clock.set(WINDOW_OPENS)
    Commands(store, clock, "raj").complete_step(SERVICE)
    return store


def metrics(**values: float) -> Sample:
    """A passing sample of api-gateway carrying `values` (its time is set by Feed)."""
    return Sample(SERVICE, datetime.min, True, None, 200, 20.0, values)


def broken(reason: str = "timeout after 2s") -> Sample:
    """A probe that got no answer."""
    return Sample(SERVICE, datetime.min, False, reason, None, None, {})


@dataclass
class Feed:
    """The poller's writes, one sample per flush, EVERY apart."""

    store: Store
    clock: FixedClock

    def __post_init__(self) -> None:
        self.poller = HealthCommands(self.store, self.clock, "test-poller")
        assert self.poller.claim(TTL).held

    def __call__(self, *samples: Sample) -> list[Recorded]:
        out = []
        for sample in samples:
            self.clock.advance(EVERY)
            timed = Sample(
                sample.service,
                self.clock.now(),
                sample.ok,
                sample.reason,
                sample.status_code,
                sample.latency_ms,
                sample.metrics,
            )
            out.append(self.poller.record([timed], TTL))
        return out
