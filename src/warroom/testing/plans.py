"""Plans for tests and benchmarks that poll real endpoints on the real clock."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import yaml

from warroom.resources import sample_plan


def plan_text(
    urls: Mapping[str, str],
    *,
    interval: str = "1s",
    timeout: str = "500ms",
    rule: str | None = None,
) -> str:
    """The sample plan with its services' health URLs (and optionally the rules) replaced."""
    data: dict[str, Any] = yaml.safe_load(sample_plan().read_text(encoding="utf-8"))
    # These run on the real clock: the deploy window is open now, or no
    # deploy could start (and no freeze of the sample's falls in it).
    now = datetime.now(UTC).replace(microsecond=0)
    data["go_no_go_at"] = (now - timedelta(hours=1)).isoformat()
    data["window"] = {
        "start": (now - timedelta(minutes=30)).isoformat(),
        "end": (now + timedelta(hours=2)).isoformat(),
    }
    data["rollback_until"] = (now + timedelta(hours=3)).isoformat()
    data.pop("freezes", None)
    for service in data["services"]:
        if service["name"] in urls:
            service["health"] = {
                "url": urls[service["name"]],
                "interval": interval,
                "timeout": timeout,
            }
        else:
            service.pop("health", None)
    if rule is not None:
        data["triggers"] = [{"name": "error-rate", "when": rule}]
    return yaml.safe_dump(data, sort_keys=False)


def with_notify(
    text: str, destinations: list[dict[str, Any]], ssh_door: Mapping[str, Any] | None = None
) -> str:
    """A plan's text with `notify:` (and `ssh_door:`) set."""
    data = yaml.safe_load(text)
    data["notify"] = destinations
    if ssh_door is not None:
        data["ssh_door"] = dict(ssh_door)
    return yaml.safe_dump(data, sort_keys=False)


def deploying(store: Any, clock: Any, text: str, service: str = "api-gateway") -> None:
    """`text` loaded by sarah, every checklist item checked, GO, and `service`
    deploying (so its rules watch it): where the health benchmarks begin."""
    from warroom.commands import Commands
    from warroom.commands.load import load_plan
    from warroom.domain.plan import parse_plan_text
    from warroom.store.queries import current_release, load_snapshot

    load_plan(store, parse_plan_text(text), text, loaded_by="sarah", clock=clock)
    sarah = Commands(store, clock, "sarah")
    with store.read() as session:
        release = current_release(session)
        assert release is not None
        keys = [item.key for item in load_snapshot(session, release).all_items]
    sarah.set_items(keys, True)
    sarah.decide("go")
    sarah.start_deploy(service)
