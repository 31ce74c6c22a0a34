"""Every action people take, named once: the table the TUI and the CLI are built from.

One row says everything about an action: its key and footer label, the help
line that explains it, the palette's name for it, the domain permission it
needs, what it applies to (the selected service, the banner's trigger, the
highlighted checklist item, the release), whether it asks for a reason, the
CLI subcommand that does the same, and the command value it builds. The
dashboard's bindings and footer greying, the reason a key is refused, the
command palette, the help screen, the README's key table and the CLI's
action subcommands all come from here; adding an action is one row here
and one handler (see commands/handlers.py).

Rows whose target is VIEW only move the view (zoom, focus a pane): no
command, no permission.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from warroom.commands import defs as d
from warroom.domain.lifecycle import DecisionKind, DeployState
from warroom.domain.roles import Action
from warroom.domain.snapshot import ReleaseSnapshot


class Target(StrEnum):
    SERVICE = "service"  # the selected service (marked in the graph and the deploy table)
    TRIGGER = "trigger"  # the trigger the banner marks: the selected service's, else the first
    ITEM = "item"  # the highlighted checklist item
    RELEASE = "release"  # the release as a whole
    VIEW = "view"  # moves the view: no command, no permission


class Ask(StrEnum):
    NOTHING = "nothing"
    REASON = "reason"  # a one-line reason that goes in the log (`question` says what)
    DECISION = "decision"  # the go/no-go dialog: kind, subset, rationale
    MESSAGE = "message"  # the message box


@dataclass(frozen=True)
class Subject:
    """What the person pointed at and typed: the input a row's `build` turns into a command."""

    name: str | None = None  # the service, trigger id or checklist item
    names: tuple[str, ...] = ()  # several items at once (the CLI)
    version: int | None = None  # the row version the person saw (refused if it moved since)
    reason: str = ""
    done: bool = False  # a checklist item: is it checked now?
    position: int | None = None  # a runbook step number, to guard the order
    kind: DecisionKind | None = None
    subset: tuple[str, ...] = ()
    text: str = ""


@dataclass(frozen=True)
class HelpLine:
    """One line of the help screen (and the README's key table)."""

    section: str
    keys: str
    text: str


@dataclass(frozen=True)
class Spec:
    """One action, once."""

    name: str  # the TUI action name (`action_<name>` is not needed: see tui/screens/acting.py)
    help: HelpLine
    target: Target
    key: str | None = None  # None: not on a key (a CLI-only action)
    label: str = ""  # the footer's label
    show: bool = True  # shown in the footer (else only in help and the palette)
    priority: bool = False
    key_display: str | None = None
    owner: str = "screen"  # who binds the key: the screen, or a pane widget (by id)
    permission: Action | None = None
    title: str = ""  # the command palette's name ("": not in the palette)
    summary: str = ""  # the palette's description (the key is added)
    ask: Ask = Ask.NOTHING
    question: str = ""  # for Ask.REASON
    # What the TUI says when the target has nothing to act on ("": the
    # target's usual sentence, see tui/screens/acting.py).
    missing: str = ""
    # Narrows what was pointed at down to what the command acts on, or says
    # in a sentence why there is nothing to do (checked before permission).
    aim: Callable[[ReleaseSnapshot, Subject], Subject | str] | None = None
    build: Callable[[Subject], d.Command[Any]] | None = None
    cli: tuple[str, ...] = ()  # the CLI subcommand path, e.g. ("deploy", "start")
    cli_help: str = ""
    reason_required: bool = False  # the CLI's --reason is required
    cli_step: bool = False  # the CLI takes --step N (Subject.position) to guard the order

    @property
    def shown_key(self) -> str:
        return self.key_display or self.key or ""


# ---------------------------------------------------------------- the help screen's lines, in order

RUNBOOK = "Runbook (selected service)"
GO_NO_GO = "Go/no-go"
TALKING = "Talking"
MOVING = "Moving around"

H_STEP = HelpLine(RUNBOOK, "n", "complete the next runbook step (the first one starts the deploy)")
H_UNDO = HelpLine(RUNBOOK, "u", "reopen the last completed step")
H_START_DONE = HelpLine(RUNBOOK, "s / D", "start the deploy / mark it done")
H_FAIL = HelpLine(RUNBOOK, "x", "mark the deploy failed (asks why)")
H_ROLLBACK = HelpLine(RUNBOOK, "r / R", "order a rollback (release manager) / mark it rolled back")
H_RAISE = HelpLine(RUNBOOK, "!", "call for a rollback: raise a trigger (team lead)")
H_ACK = HelpLine(
    RUNBOOK, "a", "acknowledge the firing trigger (the selected service's, else the first)"
)
H_PLAN = HelpLine(
    RUNBOOK, "b", "roll back per the firing trigger's plan: dependents first (release manager)"
)
H_OPEN = HelpLine(RUNBOOK, "enter", "open the service: runbook steps, who did what and when")
H_TOGGLE = HelpLine(GO_NO_GO, "space", "check or uncheck the highlighted item (checklist pane)")
H_DECIDE = HelpLine(GO_NO_GO, "g", "record the decision: GO, NO-GO or PARTIAL (release manager)")
H_MESSAGE = HelpLine(TALKING, "m", "write a message to everyone (Enter sends, Esc leaves)")
H_FILTER = HelpLine(
    TALKING, "f", "filter the log: everything, system lines, people, a team, a person"
)
H_TAB = HelpLine(MOVING, "tab / shift+tab", "next / previous pane")
H_PANES = HelpLine(MOVING, "1 … 5", "graph, deploys, countdown, go/no-go, log")
H_ARROWS = HelpLine(
    MOVING, "arrows", "move in a pane; in the graph: between services (the view follows)"
)
H_MARKER = HelpLine(MOVING, "❯", "marks the selection in every pane: the keys act on exactly that")
H_PAN = HelpLine(MOVING, "shift+arrows", "pan the graph without moving the selection")
H_ZOOM = HelpLine(MOVING, "z / esc", "zoom the focused pane to full screen and back")
H_PALETTE = HelpLine(MOVING, "ctrl+p", "command palette: every action by name")
H_FAULT = HelpLine(MOVING, "F", "demo only: inject a fault into the selected simulated service")
H_HELP = HelpLine(MOVING, "?", "this help")
H_QUIT = HelpLine(MOVING, "ctrl+q", "quit")

HELP: tuple[HelpLine, ...] = (
    H_STEP,
    H_UNDO,
    H_START_DONE,
    H_FAIL,
    H_ROLLBACK,
    H_RAISE,
    H_ACK,
    H_PLAN,
    H_OPEN,
    H_TOGGLE,
    H_DECIDE,
    H_MESSAGE,
    H_FILTER,
    H_TAB,
    H_PANES,
    H_ARROWS,
    H_MARKER,
    H_PAN,
    H_ZOOM,
    H_PALETTE,
    H_FAULT,
    H_HELP,
    H_QUIT,
)
"""Every line of the help screen, in order; keys bound by widgets and by the
app (enter, f, arrows, ?, ctrl+q) have a line here and no row below."""


def _toggle(s: Subject) -> d.Command[Any]:
    assert s.name is not None
    return d.SetItems((s.name,), not s.done, expect_version=s.version)


def _decide(s: Subject) -> d.Command[Any]:
    assert s.kind is not None
    return d.Decide(s.kind, s.subset, s.reason)  # the rationale


def _name(s: Subject) -> str:
    assert s.name is not None, "this action needs a subject"
    return s.name


def _next_in_plan(snapshot: ReleaseSnapshot, s: Subject) -> Subject | str:
    """The firing trigger `s` names → the next service its rollback plan rolls
    back (dependents first), with the trigger as the reason."""
    # Here, not at the top: networkx costs ~80 ms, and every CLI command
    # imports this table (only the TUI's `b` needs the graph).
    from warroom.domain import graph as g

    trigger = snapshot.trigger(_name(s))
    assert trigger is not None, "the TUI points at a trigger it read"
    subgraph = {trigger.service, *g.blast_radius(snapshot.graph, trigger.service)}
    busy = [
        name
        for name in snapshot.deploy_order
        if name in subgraph and snapshot.states[name] is DeployState.ROLLING_BACK
    ]
    if busy:
        return f"{busy[0]} is still rolling back; mark it rolled back (R) first."
    plan = g.rollback_plan(snapshot.graph, trigger.service, snapshot.states)
    if not plan:
        return f"Nothing of {trigger.service}'s subgraph needs rolling back."
    return Subject(plan[0], reason=f"{trigger.rule} firing on {trigger.service}")


ACTIONS: tuple[Spec, ...] = (
    Spec(
        "next_step",
        H_STEP,
        Target.SERVICE,
        key="n",
        label="Step done",
        permission=Action.COMPLETE_STEP,
        title="Complete next runbook step",
        summary="Mark the selected service's next step done",
        build=lambda s: d.CompleteStep(_name(s), s.position, expect_version=s.version),
        cli=("step", "done"),
        cli_help="Complete SERVICE's next runbook step (the first one starts the deploy).",
        cli_step=True,
    ),
    Spec(
        "undo_step",
        H_UNDO,
        Target.SERVICE,
        key="u",
        label="Undo step",
        show=False,
        permission=Action.UNDO_STEP,
        title="Undo last runbook step",
        summary="Reopen the selected service's last completed step",
        build=lambda s: d.UndoStep(_name(s), expect_version=s.version),
        cli=("step", "undo"),
        cli_help="Reopen SERVICE's last completed runbook step.",
    ),
    Spec(
        "start_deploy",
        H_START_DONE,
        Target.SERVICE,
        key="s",
        label="Start",
        show=False,
        permission=Action.START_DEPLOY,
        title="Start deploy",
        summary="Start deploying the selected service",
        build=lambda s: d.StartDeploy(_name(s), expect_version=s.version),
        cli=("deploy", "start"),
        cli_help="Start deploying SERVICE (needs GO/PARTIAL and every dependency done).",
    ),
    Spec(
        "finish_deploy",
        H_START_DONE,
        Target.SERVICE,
        key="D",
        label="Done",
        show=False,
        permission=Action.FINISH_DEPLOY,
        title="Mark deploy done",
        summary="Every runbook step must be complete",
        build=lambda s: d.FinishDeploy(_name(s), expect_version=s.version),
        cli=("deploy", "done"),
        cli_help="Mark SERVICE's deploy done (every runbook step must be complete).",
    ),
    Spec(
        "fail_deploy",
        H_FAIL,
        Target.SERVICE,
        key="x",
        label="Fail",
        permission=Action.FAIL_DEPLOY,
        title="Mark deploy failed",
        summary="Record that the selected service's deploy failed",
        ask=Ask.REASON,
        question="What went wrong? (goes in the log)",
        build=lambda s: d.FailDeploy(_name(s), s.reason, expect_version=s.version),
        cli=("deploy", "fail"),
        cli_help="Mark SERVICE's deploy failed, saying what went wrong.",
        reason_required=True,
    ),
    Spec(
        "start_rollback",
        H_ROLLBACK,
        Target.SERVICE,
        key="r",
        label="Rollback",
        permission=Action.START_ROLLBACK,
        title="Order rollback",
        summary="Release manager: roll the selected service back",
        ask=Ask.REASON,
        question="Why roll back? (goes in the log)",
        build=lambda s: d.StartRollback(_name(s), s.reason, expect_version=s.version),
        cli=("rollback", "start"),
        cli_help="Order SERVICE rolled back (its dependents must be rolled back first).",
    ),
    Spec(
        "finish_rollback",
        H_ROLLBACK,
        Target.SERVICE,
        key="R",
        label="Rolled back",
        show=False,
        permission=Action.FINISH_ROLLBACK,
        title="Mark rollback finished",
        summary="The selected service is back on its previous version",
        build=lambda s: d.FinishRollback(_name(s), expect_version=s.version),
        cli=("rollback", "done"),
        cli_help="Mark SERVICE's rollback finished.",
    ),
    Spec(
        "ack_trigger",
        H_ACK,
        Target.TRIGGER,
        key="a",
        label="Ack",
        permission=Action.ACK_TRIGGER,
        title="Acknowledge trigger",
        summary="Acknowledge the firing trigger on the selected service",
        build=lambda s: d.AckTrigger(_name(s)),
        cli=("ack",),
        cli_help="Acknowledge a firing trigger (id like error-rate@user-service).",
    ),
    Spec(
        "rollback_plan",
        H_PLAN,
        Target.TRIGGER,
        key="b",
        label="Roll back per plan",
        show=False,
        permission=Action.START_ROLLBACK,
        missing="No trigger is firing; to roll back one service, select it and press r.",
        aim=_next_in_plan,
        build=lambda s: d.StartRollback(_name(s), s.reason),
    ),
    Spec(
        "inject_fault",
        H_FAULT,
        Target.SERVICE,
        key="F",
        label="Fault (demo)",
    ),
    Spec(
        "raise_trigger",
        H_RAISE,
        Target.SERVICE,
        key="exclamation_mark",
        key_display="!",
        label="Call rollback",
        show=False,
        permission=Action.RAISE_TRIGGER,
        title="Call for a rollback",
        summary="A lead's call: raise a trigger on the selected service",
        ask=Ask.REASON,
        question="Why call for a rollback? (a lead's call, goes in the log)",
        build=lambda s: d.RaiseTrigger(_name(s), s.reason),
        cli=("trigger", "raise"),
        cli_help="A lead's call: raise a rollback trigger on SERVICE by hand.",
        reason_required=True,
    ),
    Spec(
        "decide",
        H_DECIDE,
        Target.RELEASE,
        key="g",
        label="Go/no-go",
        permission=Action.DECIDE,
        title="Record go/no-go decision",
        summary="GO, NO-GO or PARTIAL with a rationale",
        ask=Ask.DECISION,
        build=_decide,
        cli=("decide",),
        cli_help="Record the go/no-go decision: go, no-go, or partial SERVICE...",
    ),
    # Keys that say where the next keys go act the moment they are read
    # (priority), so keys typed right behind them — one read over SSH —
    # reach the pane or box they named; in a text box they are text.
    Spec(
        "compose",
        H_MESSAGE,
        Target.RELEASE,
        key="m",
        label="Message",
        priority=True,
        # No permission: everyone may talk, even before a release is loaded
        # the box opens (the command layer still has the last word).
        title="Write a message",
        summary="Post to the communication log",
        ask=Ask.MESSAGE,
        build=lambda s: d.PostMessage(s.text),
        cli=("say",),
        cli_help="Post a message to the communication log.",
    ),
    Spec(
        "zoom",
        H_ZOOM,
        Target.VIEW,
        key="z",
        label="Zoom",
        title="Zoom pane",
        summary="Full-screen the focused pane and back",
    ),
    *(
        Spec(
            f"focus_pane('{pane}')",
            H_PANES,
            Target.VIEW,
            key=str(number),
            label=label,
            show=False,
            priority=True,
            title=f"Go to {pane} pane",
            summary=f"Focus the {pane} pane",
        )
        for number, (pane, label) in enumerate(
            (
                ("graph", "Graph"),
                ("deploys", "Deploys"),
                ("timeline", "Timeline"),
                ("checklist", "Checklist"),
                ("log", "Log"),
            ),
            start=1,
        )
    ),
    Spec("unzoom", H_ZOOM, Target.VIEW, key="escape", label="Unzoom", show=False),
    Spec(
        "toggle_item",
        H_TOGGLE,
        Target.ITEM,
        key="space",
        owner="checklist",
        permission=Action.CHECK_ITEM,
        title="Toggle checklist item",
        summary="Check or uncheck the highlighted item",
        build=_toggle,
    ),
    Spec(
        "check_items",
        H_TOGGLE,
        Target.ITEM,
        permission=Action.CHECK_ITEM,
        build=lambda s: d.SetItems(s.names, True),
        cli=("item", "check"),
        cli_help="Check one or more items, all or none: gng-N for go/no-go, TEAM-N for readiness.",
    ),
    Spec(
        "uncheck_items",
        H_TOGGLE,
        Target.ITEM,
        permission=Action.CHECK_ITEM,
        build=lambda s: d.SetItems(s.names, False),
        cli=("item", "uncheck"),
        cli_help="Uncheck one or more items, all or none.",
    ),
)


def find(name: str, actions: Iterable[Spec] = ACTIONS) -> Spec:
    for spec in actions:
        if spec.name == name:
            return spec
    raise KeyError(name)


def help_sections(actions: Iterable[Spec] = ACTIONS) -> list[tuple[str, list[HelpLine]]]:
    """The help screen: HELP in order, then any row's line it lacks, at the end of its section."""
    lines = list(HELP)
    for spec in actions:
        if spec.help not in lines:
            last = max(
                (i for i, line in enumerate(lines) if line.section == spec.help.section),
                default=len(lines) - 1,
            )
            lines.insert(last + 1, spec.help)
    sections: dict[str, list[HelpLine]] = {}
    for line in lines:
        sections.setdefault(line.section, []).append(line)
    return list(sections.items())
