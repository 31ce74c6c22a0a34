"""The report's two pictures as Mermaid source (GitHub and GitLab render it).

Node ids are made here (`s0`, `s1`, ...), never taken from the plan; every
label is quoted, with Mermaid's entity codes for the characters that would
end or change it, so a version like `1.0"] --> x` stays text. Gantt lines
cannot quote, so their free text loses the characters that end a field.
"""

from __future__ import annotations

import re
from datetime import datetime

from warroom.domain.lifecycle import DeployState
from warroom.domain.report import Report, ServiceEntry
from warroom.domain.text import safe
from warroom.domain.timeline import local
from warroom.reporting.words import STATE_WORDS, Words

# Fill, border and text colour per final state (readable in light and dark themes).
COLOURS: dict[DeployState, tuple[str, str, str]] = {
    DeployState.WAITING: ("#eaeef2", "#8c959f", "#24292f"),
    DeployState.DEPLOYING: ("#ddf4ff", "#0969da", "#0a3069"),
    DeployState.VERIFYING: ("#ddf4ff", "#0969da", "#0a3069"),
    DeployState.DONE: ("#dafbe1", "#1a7f37", "#044f1e"),
    DeployState.FAILED: ("#ffebe9", "#cf222e", "#82071e"),
    DeployState.ROLLING_BACK: ("#fff8c5", "#9a6700", "#4d2d00"),
    DeployState.ROLLED_BACK: ("#fbefff", "#8250df", "#3e1f79"),
}

_ENTITIES = {
    "#": "#35;",  # first: the others start with it
    '"': "#quot;",
    "<": "#lt;",
    ">": "#gt;",
    "&": "#amp;",
    "`": "#96;",
}
_GANTT_BREAKS = re.compile(r"[#;:`\n]")  # what ends a gantt title, section or task field


def label(text: str) -> str:
    """`text` as the inside of a quoted Mermaid label: nothing in it ends the label."""
    text = safe(text)
    return "".join(_ENTITIES.get(char, char) for char in text)


def gantt_text(text: str) -> str:
    return " ".join(_GANTT_BREAKS.sub(" ", safe(text)).split())


def state_class(state: DeployState) -> str:
    """`stRolledBack`: a class name Mermaid takes (letters only)."""
    return "st" + "".join(part.capitalize() for part in state.value.split("_"))


def _stamp(moment: datetime, zone: str) -> str:
    return local(moment, zone).strftime("%Y-%m-%d %H:%M:%S")


def actual_end(service: ServiceEntry, report: Report) -> datetime | None:
    """Where the actual bar ends: done, failed, rolled back, or `as_of` while under way."""
    if service.started_at is None:
        return None
    if service.state in {DeployState.DEPLOYING, DeployState.VERIFYING, DeployState.ROLLING_BACK}:
        return report.as_of
    if service.state is DeployState.DONE and service.finished_at is not None:
        return service.finished_at
    return service.state_since


def _actual_tag(state: DeployState) -> str:
    if state in {DeployState.FAILED, DeployState.ROLLING_BACK, DeployState.ROLLED_BACK}:
        return "crit, "
    if state is DeployState.DONE:
        return "done, "
    return "active, "


def gantt(report: Report) -> str:
    """Planned vs actual per service, on the plan's clock."""
    words = Words(report)
    zone = report.release.timezone
    lines = [
        "gantt",
        f"    title {gantt_text(report.release.name)} planned vs actual ({gantt_text(words.zone_label)})",
        "    dateFormat YYYY-MM-DD HH:mm:ss",
        "    axisFormat %H:%M",
    ]
    for number, service in enumerate(report.services):
        lines.append(f"    section {gantt_text(service.name)}")
        lines.append(
            f"    planned :p{number}, {_stamp(service.planned_start, zone)}, "
            f"{_stamp(service.planned_end, zone)}"
        )
        end = actual_end(service, report)
        if service.started_at is not None and end is not None:
            # A bar needs some length: a deploy that failed the minute it started still shows.
            end = max(end, service.started_at)
            lines.append(
                f"    {STATE_WORDS[service.state]} :{_actual_tag(service.state)}a{number}, "
                f"{_stamp(service.started_at, zone)}, {_stamp(end, zone)}"
            )
    return "\n".join(lines) + "\n"


def graph(report: Report) -> str:
    """The services, dependencies pointing at what depends on them, coloured by final state."""
    ids = {service.name: f"s{number}" for number, service in enumerate(report.services)}
    lines = ["flowchart TD"]
    for service in report.services:
        versions = f"{service.previous_version or '—'} → {service.version}"
        text = "<br/>".join((label(service.name), label(versions), STATE_WORDS[service.state]))
        lines.append(f'    {ids[service.name]}["{text}"]')
    for service in report.services:
        for dependency in service.depends_on:
            if dependency in ids:
                lines.append(f"    {ids[dependency]} --> {ids[service.name]}")
    used = [state for state in DeployState if any(s.state is state for s in report.services)]
    for state in used:
        fill, stroke, colour = COLOURS[state]
        lines.append(
            f"    classDef {state_class(state)} fill:{fill},stroke:{stroke},color:{colour}"
        )
    for state in used:
        members = ",".join(ids[s.name] for s in report.services if s.state is state)
        lines.append(f"    class {members} {state_class(state)}")
    return "\n".join(lines) + "\n"
