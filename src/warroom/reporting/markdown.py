"""The report as Markdown (GitHub-flavoured): for a wiki page or a pull request.

Everything people wrote goes through `md()`: control characters shown inert
(`safe`), then every character Markdown or HTML would act on escaped, so a
message cannot become a link, a heading, a table column or raw HTML.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from warroom.domain.lifecycle import DeployState
from warroom.domain.report import ItemEntry, Report, ServiceEntry, TeamEntry
from warroom.domain.text import safe
from warroom.reporting import mermaid
from warroom.reporting.words import NONE, STATE_WORDS, Words, duration, names, plural, signed

# Backslash-escaped: what starts emphasis, code, links, math, strikethrough or
# a table column anywhere in a line (line-start syntax cannot occur: our own
# words start every line).
_ACTIVE = re.compile(r"[\\`*_\[\]|~$#]")


def md(text: str) -> str:
    """`text` as Markdown that shows exactly `text` (one line)."""
    text = safe(text)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _ACTIVE.sub(lambda match: "\\" + match.group(), text)


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    """A table; cells are already Markdown."""
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines.extend("| " + " | ".join(cell or NONE for cell in row) + " |" for row in rows)
    return lines


def render_markdown(report: Report) -> str:
    words = Words(report)
    out: list[str] = [
        f"# Release {md(report.release.name)}: post-release report",
        "",
        "**{}** {}".format(*map(md, words.status())),
        "",
        f"Computed by warroom from the release's record ({plural(report.events, 'audit event')} "
        f"and {plural(len(report.log), 'log line')}), nothing typed in. "
        f"Times are on the plan's clock, {md(words.zone_label)}.",
        "",
    ]
    out += [f"- **{label}:** {md(value)}" for label, value in words.facts()]
    out += ["", "## Headline", ""]
    out += _table(("Metric", "Value"), ((md(k), md(v)) for k, v in words.headline()))
    out += [
        "",
        'How each is measured: warroom\'s README, "The post-release report".',
        "",
        "## Decisions",
        "",
    ]
    if report.decisions:
        out += _table(
            ("At", "Decision", "Services", "By", "Rationale", "In force until"),
            (
                (
                    words.time(d.at),
                    f"**{d.kind}**",
                    md(names(d.subset)) if d.subset else "all",
                    md(d.by),
                    md(d.rationale),
                    words.time(d.until) if d.until else "still in force",
                )
                for d in report.decisions
            ),
        )
    else:
        out.append("None recorded yet.")
    out += [
        "",
        "## Schedule: planned vs actual",
        "",
        "```mermaid",
        mermaid.gantt(report) + "```",
        "",
    ]
    out += _table(
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
                md(s.name),
                md(s.team),
                words.time(s.planned_start),
                words.time(s.started_at),
                md(words.start_vs_plan(s)),
                md(words.took(s)),
                md(duration(s.expected)),
                md(signed(s.overrun)),
                STATE_WORDS[s.state],
            )
            for s in report.services
        ),
    )
    out += ["", "## Services by final state", "", "```mermaid", mermaid.graph(report) + "```", ""]
    out.append(
        "Arrows point from a service to what depends on it. "
        + ", ".join(
            f"{STATE_WORDS[state]}: {len(members)}"
            for state, members in _by_state(report.services).items()
        )
        + "."
    )
    out += ["", "## Services", ""]
    for service in report.services:
        out += _service(words, service)
    out += ["## Readiness", ""]
    out += _readiness(words, report)
    out += ["## Triggers", ""]
    if report.triggers:
        out += _table(
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
                    md(t.id),
                    md(words.rule(t)),
                    words.time(t.condition_since),
                    words.time(t.fired_at),
                    md(words.detection(t)),
                    md(words.acknowledged(t)),
                    md(duration(t.to_acknowledge)),
                    md(words.ended(t)),
                )
                for t in report.triggers
            ),
        )
    else:
        out.append("No trigger went pending or fired.")
    out += ["", "## Rollbacks", ""]
    if not report.rollbacks:
        out += ["No rollback was ordered.", ""]
    for rollback in report.rollbacks:
        first = rollback.steps[0]
        reason = f": {first.reason}" if first.reason else ""
        out += [
            f"### {md(rollback.service)}",
            "",
            f"- **Ordered** by {md(rollback.ordered_by)} at {words.time(rollback.ordered_at)}{md(reason)}",
            f"- **Trouble:** {md(rollback.trouble)} at {words.time(rollback.trouble_at)}",
            f"- **Subgraph** (rollback order): {md(' → '.join(rollback.subgraph))}; "
            f"with something to undo: {md(names(rollback.plan))}",
            f"- **Time to recover:** {md(words.recovery(rollback))}",
            "",
        ]
        out += _table(
            ("Order", "Service", "Ordered", "By", "Rolled back", "By", "Health passing"),
            (
                (
                    str(number),
                    md(step.service),
                    words.time(step.ordered_at),
                    md(step.ordered_by),
                    words.time(step.rolled_back_at),
                    md(step.rolled_back_by or NONE),
                    words.time(step.healthy_at)
                    + (
                        ""
                        if step.health_known or step.healthy_at is None
                        else " (no health recorded)"
                    ),
                )
                for number, step in enumerate(rollback.steps, start=1)
            ),
        )
        out.append("")
    out += ["## Communication log", ""]
    if report.log:
        out += _table(
            ("Time", "T±", "Who", "What"),
            (
                (
                    words.time(line.at),
                    line.t,
                    md(line.author),
                    f"*{md(line.text)}*" if line.kind == "system" else md(line.text),
                )
                for line in report.log
            ),
        )
        out += ["", "System lines are in italics."]
    else:
        out.append("Nothing was said.")
    return "\n".join(out) + "\n"


def _service(words: Words, service: ServiceEntry) -> list[str]:
    deps = names(service.depends_on) if service.depends_on else "nothing"
    out = [
        f"### {md(service.name)}: {STATE_WORDS[service.state]}",
        "",
        md(
            f"Team {service.team} · owner {service.owner or NONE} · "
            f"{service.previous_version or NONE} → {service.version} · wave {service.wave} · "
            f"depends on {deps}"
        ),
        "",
        md(words.story(service)),
        "",
        f"Time in state: {md(words.time_in_state(service))}. "
        f"Health at the end: {md(words.health(service))}.",
        "",
    ]
    out += _table(
        ("Step", "What", "Done by", "At"),
        (
            (str(step.position), md(step.text), md(step.done_by or NONE), words.time(step.done_at))
            for step in service.steps
        ),
    )
    return [*out, ""]


def _readiness(words: Words, report: Report) -> list[str]:
    complete = report.go_no_go_done_at
    out = [
        "### Go/no-go checklist: "
        + (f"complete at {words.time(complete)}" if complete else "open"),
        "",
    ]
    out += _items(words, report.go_no_go)
    out.append("")
    for team in report.teams:
        out += [f"### Team {md(team.team)}: {_ready(words, team)}", ""]
        out += _items(words, team.items) if team.items else ["No readiness items."]
        out.append("")
    return out


def _ready(words: Words, team: TeamEntry) -> str:
    if team.ready_at is None:
        left = sum(1 for item in team.items if item.done_at is None)
        return f"BLOCKED ({plural(left, 'item')} open)"
    return f"READY at {words.time(team.ready_at)}"


def _items(words: Words, items: Sequence[ItemEntry]) -> list[str]:
    return _table(
        ("Item", "What", "Checked by", "At"),
        ((md(i.key), md(i.text), md(i.done_by or NONE), words.time(i.done_at)) for i in items),
    )


def _by_state(services: Sequence[ServiceEntry]) -> dict[DeployState, list[str]]:
    grouped: dict[DeployState, list[str]] = {}
    for service in services:
        grouped.setdefault(service.state, []).append(service.name)
    return grouped
