"""The report as a document: headings, paragraphs, lists, tables and pictures.

One structure, two writers (markdown.py, page.py), so the Markdown and the
HTML page say exactly the same things. Every piece of text here is plain
text — ours or people's alike — and each writer escapes all of it for its
format; styles (bold, italic) are marks on a run, never characters in it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from warroom.domain.lifecycle import DeployState
from warroom.domain.report import ItemEntry, Report, ServiceEntry, TeamEntry
from warroom.reporting.words import (
    NONE,
    STATE_WORDS,
    Words,
    duration,
    names,
    plural,
    signed,
)


class Style(StrEnum):
    PLAIN = ""
    BOLD = "bold"
    ITALIC = "italic"


@dataclass(frozen=True)
class Run:
    """A run of text in one style."""

    text: str
    style: Style = Style.PLAIN


Text = str | Run  # a plain string is a plain run (a long day's log has 140,000 cells)
Line = tuple[Text, ...]


def line(*parts: Text) -> Line:
    return tuple(part for part in parts if part)


def bold(text: str) -> Run:
    return Run(text, Style.BOLD)


def italic(text: str) -> Run:
    return Run(text, Style.ITALIC)


@dataclass(frozen=True)
class Heading:
    level: int
    text: Line


@dataclass(frozen=True)
class Paragraph:
    text: Line


@dataclass(frozen=True)
class Bullets:
    items: tuple[Line, ...]


@dataclass(frozen=True)
class Table:
    header: tuple[str, ...]
    rows: tuple[tuple[Text, ...], ...]  # one run per cell


class Figure(StrEnum):
    GANTT = "gantt"  # planned vs actual per service
    GRAPH = "graph"  # the services coloured by final state


@dataclass(frozen=True)
class Picture:
    figure: Figure


Block = Heading | Paragraph | Bullets | Table | Picture


def _table(header: Iterable[str], rows: Iterable[Iterable[Text]]) -> Table:
    return Table(tuple(header), tuple(tuple(cell or NONE for cell in row) for row in rows))


def build_document(report: Report) -> list[Block]:
    words = Words(report)
    title, status = words.status()
    doc: list[Block] = [
        Heading(1, line(f"Release {report.release.name}: post-release report")),
        Paragraph(line(bold(title), f" {status}")),
        Paragraph(
            line(
                f"Computed by warroom from the release's record "
                f"({plural(report.events, 'audit event')} and {plural(len(report.log), 'log line')}), "
                f"nothing typed in. Times are on the plan's clock, {words.zone_label}."
            )
        ),
        Bullets(tuple(line(bold(f"{label}:"), f" {value}") for label, value in words.facts())),
        Heading(2, line("Headline")),
        _table(("Metric", "Value"), words.headline()),
        Paragraph(line('How each is measured: warroom\'s README, "The post-release report".')),
        Heading(2, line("Decisions")),
    ]
    if report.decisions:
        doc.append(
            _table(
                ("At", "Decision", "Services", "By", "Rationale", "In force until"),
                (
                    (
                        words.time(d.at),
                        bold(d.kind.value),
                        names(d.subset) if d.subset else "all",
                        d.by,
                        d.rationale,
                        words.time(d.until) if d.until else "still in force",
                    )
                    for d in report.decisions
                ),
            )
        )
    else:
        doc.append(Paragraph(line("None recorded yet.")))
    doc += [
        Heading(2, line("Schedule: planned vs actual")),
        Picture(Figure.GANTT),
        _table(
            (
                "Service",
                "Team",
                "Planned start",
                "Actual start",
                "vs plan",
                "Took",
                "Expected",
                "vs expected",
                "Ends",
            ),
            (
                (
                    s.name,
                    s.team,
                    words.time(s.planned_start),
                    words.time(s.started_at),
                    words.start_vs_plan(s),
                    words.took(s),
                    duration(s.expected),
                    signed(s.overrun),
                    STATE_WORDS[s.state],
                )
                for s in report.services
            ),
        ),
        Heading(2, line("Services by final state")),
        Picture(Figure.GRAPH),
        Paragraph(
            line(
                "Arrows point from a service to what depends on it. "
                + ", ".join(
                    f"{STATE_WORDS[state]}: {count}"
                    for state, count in _by_state(report.services).items()
                )
                + "."
            )
        ),
        Heading(2, line("Services")),
    ]
    for service in report.services:
        doc += _service(words, service)
    doc.append(Heading(2, line("Readiness")))
    doc += _readiness(words, report)
    doc.append(Heading(2, line("Triggers")))
    if report.triggers:
        doc.append(
            _table(
                (
                    "Trigger",
                    "Rule",
                    "Condition from",
                    "Fired",
                    "Detection",
                    "Acknowledged",
                    "Time to ack",
                    "Ended",
                ),
                (
                    (
                        t.id,
                        words.rule(t),
                        words.time(t.condition_since),
                        words.time(t.fired_at),
                        words.detection(t),
                        words.acknowledged(t),
                        duration(t.to_acknowledge),
                        words.ended(t),
                    )
                    for t in report.triggers
                ),
            )
        )
    else:
        doc.append(Paragraph(line("No trigger went pending or fired.")))
    doc.append(Heading(2, line("Rollbacks")))
    if not report.rollbacks:
        doc.append(Paragraph(line("No rollback was ordered.")))
    for rollback in report.rollbacks:
        first = rollback.steps[0]
        reason = f": {first.reason}" if first.reason else ""
        doc += [
            Heading(3, line(rollback.service)),
            Bullets(
                (
                    line(
                        bold("Ordered"),
                        f" by {rollback.ordered_by} at {words.time(rollback.ordered_at)}{reason}",
                    ),
                    line(
                        bold("Trouble:"),
                        f" {rollback.trouble} at {words.time(rollback.trouble_at)}",
                    ),
                    line(
                        bold("Subgraph"),
                        f" (rollback order): {' → '.join(rollback.subgraph)}; "
                        f"with something to undo: {names(rollback.plan)}",
                    ),
                    line(bold("Time to recover:"), f" {words.recovery(rollback)}"),
                )
            ),
            _table(
                ("Order", "Service", "Ordered", "By", "Rolled back", "By", "Health passing"),
                (
                    (
                        str(number),
                        step.service,
                        words.time(step.ordered_at),
                        step.ordered_by,
                        words.time(step.rolled_back_at),
                        step.rolled_back_by or NONE,
                        words.time(step.healthy_at)
                        + (
                            ""
                            if step.health_known or step.healthy_at is None
                            else " (no health recorded)"
                        ),
                    )
                    for number, step in enumerate(rollback.steps, start=1)
                ),
            ),
        ]
    doc.append(Heading(2, line("Communication log")))
    if report.log:
        doc += [
            _table(
                ("Time", "T±", "Who", "What"),
                (
                    (
                        words.time(entry.at),
                        entry.t,
                        entry.author,
                        italic(entry.text) if entry.kind == "system" else entry.text,
                    )
                    for entry in report.log
                ),
            ),
            Paragraph(line("System lines are in italics.")),
        ]
    else:
        doc.append(Paragraph(line("Nothing was said.")))
    return doc


def _service(words: Words, service: ServiceEntry) -> list[Block]:
    deps = names(service.depends_on) if service.depends_on else "nothing"
    return [
        Heading(3, line(f"{service.name}: {STATE_WORDS[service.state]}")),
        Paragraph(
            line(
                f"Team {service.team} · owner {service.owner or NONE} · "
                f"{service.previous_version or NONE} → {service.version} · wave {service.wave} · "
                f"depends on {deps}"
            )
        ),
        Paragraph(line(words.story(service))),
        Paragraph(
            line(
                f"Time in state: {words.time_in_state(service)}. "
                f"Health at the end: {words.health(service)}."
            )
        ),
        _table(
            ("Step", "What", "Done by", "At"),
            (
                (str(step.position), step.text, step.done_by or NONE, words.time(step.done_at))
                for step in service.steps
            ),
        ),
    ]


def _readiness(words: Words, report: Report) -> list[Block]:
    complete = report.go_no_go_done_at
    state = f"complete at {words.time(complete)}" if complete else "open"
    doc: list[Block] = [
        Heading(3, line(f"Go/no-go checklist: {state}")),
        _items(words, report.go_no_go),
    ]
    for team in report.teams:
        doc.append(Heading(3, line(f"Team {team.team}: {_ready(words, team)}")))
        doc.append(
            _items(words, team.items) if team.items else Paragraph(line("No readiness items."))
        )
    return doc


def _ready(words: Words, team: TeamEntry) -> str:
    if team.ready_at is None:
        left = sum(1 for item in team.items if item.done_at is None)
        return f"BLOCKED ({plural(left, 'item')} open)"
    return f"READY at {words.time(team.ready_at)}"


def _items(words: Words, items: Iterable[ItemEntry]) -> Table:
    return _table(
        ("Item", "What", "Checked by", "At"),
        ((i.key, i.text, i.done_by or NONE, words.time(i.done_at)) for i in items),
    )


def _by_state(services: Iterable[ServiceEntry]) -> dict[DeployState, int]:
    counts: dict[DeployState, int] = {}
    for service in services:
        counts[service.state] = counts.get(service.state, 0) + 1
    return counts
