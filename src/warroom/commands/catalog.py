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

Rows whose target is VIEW only move the view (zoom, focus a pane, move a
replay through the day): no command, no permission. A RELEASE row without a
command (the report) is the dashboard's own method too: it reads, and
everyone may. The replay (tui/screens/replay.py) binds the same table: rows
that read or move the view work there as in the live room, rows that change
something are refused as read-only. A key's `owner` says which screens bind
it (LIVE: the live room only, REPLAY: a replay only).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Any

from warroom.commands import defs as d
from warroom.domain.lifecycle import DecisionKind, DeployState
from warroom.domain.roles import Action
from warroom.domain.snapshot import ReleaseSnapshot
from warroom.domain.triggers import Answer


class Target(StrEnum):
    SERVICE = "service"  # the selected service (marked in the graph and the deploy table)
    TRIGGER = "trigger"  # the trigger the banner marks: the selected service's, else the first
    # The inconclusive trigger the banner asks about: the selected service's, else the first.
    INCONCLUSIVE = "inconclusive"
    ITEM = "item"  # the highlighted checklist item
    RELEASE = "release"  # the release as a whole
    VIEW = "view"  # moves the view: no command, no permission


class Ask(StrEnum):
    NOTHING = "nothing"
    REASON = "reason"  # a one-line reason that goes in the log (`question` says what)
    DECISION = "decision"  # the go/no-go dialog: kind, subset, rationale
    MESSAGE = "message"  # the message box
    OVERRIDE = "override"  # which gate (the window or a freeze), why, and for how long
    ANSWER = "answer"  # roll back or carry on, and why (an inconclusive trigger)


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
    duration: str = ""  # how long, as people write it (`15m`): an override
    answer: Answer | None = None  # to an inconclusive trigger: roll back or carry on


@dataclass(frozen=True)
class HelpLine:
    """One line of the help screen (and the README's key table)."""

    section: str
    keys: str
    text: str


@dataclass(frozen=True)
class Key:
    """The key that runs an action, and how the footer shows it."""

    key: str
    label: str = ""  # the footer's label
    show: bool = True  # shown in the footer (else only in help and the palette)
    priority: bool = False
    display: str | None = None  # how the footer and the palette write the key, if not as `key`
    # Who binds the key: the screen (the live room's and a replay's alike), the
    # live room's alone (LIVE), a replay's alone (REPLAY), or a pane widget (by id).
    owner: str = "screen"
    group: str = ""  # keys of one group sit together in the footer under this label

    @property
    def shown(self) -> str:
        """The key as the footer, the palette and the help write it."""
        return self.display or self.key


@dataclass(frozen=True)
class Palette:
    """The action's entry in the command palette."""

    title: str
    summary: str  # the description (the key is added)


@dataclass(frozen=True)
class Cli:
    """The CLI subcommand that does the same."""

    path: str  # the subcommand's words, e.g. "deploy start"
    help: str
    reason_required: bool = False  # --reason is required
    step: bool = False  # takes --step N (Subject.position) to guard the order

    @property
    def words(self) -> tuple[str, ...]:
        """The path as words, e.g. ("deploy", "start")."""
        return tuple(self.path.split())


@dataclass(frozen=True)
class Spec:
    """One action, once."""

    name: str  # the TUI action name (`action_<name>` is not needed: see tui/screens/acting.py)
    help: HelpLine
    target: Target
    binding: Key | None = None  # None: not on a key (a CLI-only action)
    permission: Action | None = None
    palette: Palette | None = None  # None: not in the command palette
    ask: Ask = Ask.NOTHING
    question: str = ""  # for Ask.REASON
    # What the TUI says when the target has nothing to act on ("": the
    # target's usual sentence, see tui/screens/acting.py).
    missing: str = ""
    # Narrows what was pointed at down to what the command acts on, or says
    # in a sentence why there is nothing to do (checked before permission).
    aim: Callable[[ReleaseSnapshot, Subject], Subject | str] | None = None
    build: Callable[[Subject], d.Command[Any]] | None = None
    subcommand: Cli | None = None  # None: not on the command line


# ---------------------------------------------------------------- the help screen's lines, in order

RUNBOOK = "Runbook (selected service)"
GO_NO_GO = "Go/no-go"
TALKING = "Talking"
GATES = "Window, freezes and holds (release manager)"
MOVING = "Moving around"
REPLAYING = "Replay (read-only)"

LIVE = "live"  # Key.owner of keys only the live room binds
REPLAY = "replay"  # Key.owner of keys only a replay binds (tui/screens/replay.py)

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
H_ANSWER = HelpLine(
    RUNBOOK,
    "i",
    "answer an inconclusive trigger: roll back or carry on (release manager)",
)
H_OPEN = HelpLine(RUNBOOK, "enter", "open the service: runbook steps, who did what and when")
H_TOGGLE = HelpLine(GO_NO_GO, "space", "check or uncheck the highlighted item (checklist pane)")
H_DECIDE = HelpLine(GO_NO_GO, "g", "record the decision: GO, NO-GO or PARTIAL (release manager)")
H_MESSAGE = HelpLine(TALKING, "m", "write a message to everyone (Enter sends, Esc leaves)")
H_FILTER = HelpLine(
    TALKING, "f", "filter the log: everything, system lines, people, a team, a person"
)
H_REPORT = HelpLine(
    TALKING, "W", "write the post-release report (Markdown), beside the database by default"
)
H_OVERRIDE = HelpLine(
    GATES, "o", "override the window or a freeze for a while: asks which, why, how long"
)
H_RELEASE_HOLD = HelpLine(
    GATES, "h", "release the selected service's hold: it may start despite what holds it"
)
H_TAB = HelpLine(MOVING, "tab / shift+tab", "next / previous pane")
H_PANES = HelpLine(
    MOVING, "1 … 5", "graph, deploys (focused when the room opens), countdown, go/no-go, log"
)
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
H_REPLAY = HelpLine(
    REPLAYING,
    "H",
    "replay the day: the room as it was at any moment, from the record (opens at now)",
)
H_EVENT = HelpLine(REPLAYING, ", / .", "previous / next event")
H_MINUTE = HelpLine(REPLAYING, "[ / ]", "one minute back / on")
H_TEN = HelpLine(REPLAYING, "{ / }", "ten minutes back / on")
H_MARK = HelpLine(
    REPLAYING,
    "< / >",
    "previous / next trigger change (pending, fired, acked, resolved) or decision",
)
H_LEAVE = HelpLine(
    REPLAYING, "esc", "back to the live room, which kept up meanwhile (a zoomed pane unzooms first)"
)

HELP: tuple[HelpLine, ...] = (
    H_STEP,
    H_UNDO,
    H_START_DONE,
    H_FAIL,
    H_ROLLBACK,
    H_RAISE,
    H_ACK,
    H_PLAN,
    H_ANSWER,
    H_OPEN,
    H_TOGGLE,
    H_DECIDE,
    H_MESSAGE,
    H_FILTER,
    H_REPORT,
    H_OVERRIDE,
    H_RELEASE_HOLD,
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
    H_REPLAY,
    H_EVENT,
    H_MINUTE,
    H_TEN,
    H_MARK,
    H_LEAVE,
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


def _service_command(command: type[d.ServiceCommand]) -> Callable[[Subject], d.Command[Any]]:
    """Builds `command` on the service the person named, refused if it changed
    since the version they saw; a reason or step number the row asks for goes
    in the command's field of that name (`reason`, `position`)."""
    passed = {f.name for f in fields(command)} & {"reason", "position"}

    def build(s: Subject) -> d.Command[Any]:
        return command(_name(s), expect_version=s.version, **{n: getattr(s, n) for n in passed})

    return build


def _answer(s: Subject) -> d.Command[Any]:
    assert s.answer is not None, "the dialog or the command line gives the answer"
    return d.AnswerTrigger(_name(s), s.answer, s.reason)


def _next_in_plan(snapshot: ReleaseSnapshot, s: Subject) -> Subject | str:
    """The firing trigger `s` names → the next service its rollback plan rolls
    back (dependents first), with the trigger as the reason."""
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


def _held(snapshot: ReleaseSnapshot, s: Subject) -> Subject | str:
    """Only a held service has a hold to release."""
    name = _name(s)
    return s if name in snapshot.holds else f"{name} is not held."


# Textual's names of the replay's keys (the footer and help write the characters).
_KEY_NAMES = {
    ",": "comma",
    ".": "full_stop",
    "[": "left_square_bracket",
    "]": "right_square_bracket",
    "{": "left_curly_bracket",
    "}": "right_curly_bracket",
    "<": "less_than_sign",
    ">": "greater_than_sign",
}


def _replay(name: str, line: HelpLine, key: str, group: str, title: str, summary: str) -> Spec:
    """A replay's own key (it moves the moment shown): `key` as typed, the
    footer's `group` label it shares with its opposite, and a palette entry."""
    return Spec(
        name,
        line,
        Target.VIEW,
        Key(_KEY_NAMES[key], group, display=key, owner=REPLAY, group=group),
        palette=Palette(f"Replay: {title}", summary),
    )


ACTIONS: tuple[Spec, ...] = (
    Spec(
        "next_step",
        H_STEP,
        Target.SERVICE,
        Key("n", "Step done"),
        Action.COMPLETE_STEP,
        Palette("Complete next runbook step", "Mark the selected service's next step done"),
        build=_service_command(d.CompleteStep),
        subcommand=Cli(
            "step done",
            "Complete SERVICE's next runbook step (the first one starts the deploy).",
            step=True,
        ),
    ),
    Spec(
        "undo_step",
        H_UNDO,
        Target.SERVICE,
        Key("u", "Undo step", show=False),
        Action.UNDO_STEP,
        Palette("Undo last runbook step", "Reopen the selected service's last completed step"),
        build=_service_command(d.UndoStep),
        subcommand=Cli("step undo", "Reopen SERVICE's last completed runbook step."),
    ),
    Spec(
        "start_deploy",
        H_START_DONE,
        Target.SERVICE,
        Key("s", "Start", show=False),
        Action.START_DEPLOY,
        Palette("Start deploy", "Start deploying the selected service"),
        build=_service_command(d.StartDeploy),
        subcommand=Cli(
            "deploy start",
            "Start deploying SERVICE (needs GO/PARTIAL and every dependency done).",
        ),
    ),
    Spec(
        "finish_deploy",
        H_START_DONE,
        Target.SERVICE,
        Key("D", "Done", show=False),
        Action.FINISH_DEPLOY,
        Palette("Mark deploy done", "Every runbook step must be complete"),
        build=_service_command(d.FinishDeploy),
        subcommand=Cli(
            "deploy done", "Mark SERVICE's deploy done (every runbook step must be complete)."
        ),
    ),
    Spec(
        "fail_deploy",
        H_FAIL,
        Target.SERVICE,
        Key("x", "Fail"),
        Action.FAIL_DEPLOY,
        Palette("Mark deploy failed", "Record that the selected service's deploy failed"),
        ask=Ask.REASON,
        question="What went wrong? (goes in the log)",
        build=_service_command(d.FailDeploy),
        subcommand=Cli(
            "deploy fail",
            "Mark SERVICE's deploy failed, saying what went wrong.",
            reason_required=True,
        ),
    ),
    Spec(
        "start_rollback",
        H_ROLLBACK,
        Target.SERVICE,
        Key("r", "Rollback"),
        Action.START_ROLLBACK,
        Palette("Order rollback", "Release manager: roll the selected service back"),
        ask=Ask.REASON,
        question="Why roll back? (goes in the log)",
        build=_service_command(d.StartRollback),
        subcommand=Cli(
            "rollback start",
            "Order SERVICE rolled back (its dependents must be rolled back first).",
        ),
    ),
    Spec(
        "finish_rollback",
        H_ROLLBACK,
        Target.SERVICE,
        Key("R", "Rolled back", show=False),
        Action.FINISH_ROLLBACK,
        Palette("Mark rollback finished", "The selected service is back on its previous version"),
        build=_service_command(d.FinishRollback),
        subcommand=Cli("rollback done", "Mark SERVICE's rollback finished."),
    ),
    Spec(
        "ack_trigger",
        H_ACK,
        Target.TRIGGER,
        Key("a", "Ack"),
        Action.ACK_TRIGGER,
        Palette("Acknowledge trigger", "Acknowledge the firing trigger on the selected service"),
        build=lambda s: d.AckTrigger(_name(s)),
        subcommand=Cli("ack", "Acknowledge a firing trigger (id like error-rate@user-service)."),
    ),
    Spec(
        "rollback_plan",
        H_PLAN,
        Target.TRIGGER,
        Key("b", "Roll back per plan", show=False),
        Action.START_ROLLBACK,
        missing="No trigger is firing; to roll back one service, select it and press r.",
        aim=_next_in_plan,
        build=_service_command(d.StartRollback),
    ),
    Spec(
        "answer_trigger",
        H_ANSWER,
        Target.INCONCLUSIVE,
        Key("i", "Decide", show=False),
        Action.ANSWER_TRIGGER,
        Palette(
            "Answer inconclusive trigger",
            "A rule cannot tell: roll back or carry on, and why (release manager)",
        ),
        ask=Ask.ANSWER,
        question="The rule cannot tell. Roll back, or carry on? (the reason goes in the log)",
        build=_answer,
        subcommand=Cli(
            "trigger answer",
            "Answer an inconclusive trigger (id like error-rate@user-service): "
            "rollback or carry-on, with --reason.",
            reason_required=True,
        ),
    ),
    Spec("inject_fault", H_FAULT, Target.SERVICE, Key("F", "Fault (demo)")),
    Spec(
        "raise_trigger",
        H_RAISE,
        Target.SERVICE,
        Key("exclamation_mark", "Call rollback", show=False, display="!"),
        Action.RAISE_TRIGGER,
        Palette("Call for a rollback", "A lead's call: raise a trigger on the selected service"),
        ask=Ask.REASON,
        question="Why call for a rollback? (a lead's call, goes in the log)",
        build=lambda s: d.RaiseTrigger(_name(s), s.reason),
        subcommand=Cli(
            "trigger raise",
            "A lead's call: raise a rollback trigger on SERVICE by hand.",
            reason_required=True,
        ),
    ),
    Spec(
        "decide",
        H_DECIDE,
        Target.RELEASE,
        Key("g", "Go/no-go"),
        Action.DECIDE,
        Palette("Record go/no-go decision", "GO, NO-GO or PARTIAL with a rationale"),
        ask=Ask.DECISION,
        build=_decide,
        subcommand=Cli("decide", "Record the go/no-go decision: go, no-go, or partial SERVICE..."),
    ),
    Spec(
        "override",
        H_OVERRIDE,
        Target.RELEASE,
        Key("o", "Override", show=False),
        Action.OVERRIDE,
        Palette("Override window or freeze", "Let deploys start outside the window or in a freeze"),
        ask=Ask.OVERRIDE,
        build=lambda s: d.Override(_name(s), s.duration, s.reason),
        subcommand=Cli(
            "override",
            "Let deploys start despite the window or a freeze, for a while: "
            "TARGET is `window` or a freeze's name (quoted if it has spaces).",
            reason_required=True,
        ),
    ),
    Spec(
        "release_hold",
        H_RELEASE_HOLD,
        Target.SERVICE,
        Key("h", "Release hold", show=False),
        Action.RELEASE_HOLD,
        Palette("Release hold", "Let the selected held service start despite what holds it"),
        ask=Ask.REASON,
        question="Why may it start despite its hold? (goes in the log)",
        aim=_held,
        build=_service_command(d.ReleaseHold),
        subcommand=Cli(
            "hold release",
            "Let SERVICE start despite the trigger or failure upstream that holds it.",
            reason_required=True,
        ),
    ),
    # Keys that say where the next keys go act the moment they are read
    # (priority), so keys typed right behind them — one read over SSH —
    # reach the pane or box they named; in a text box they are text.
    Spec(
        "compose",
        H_MESSAGE,
        Target.RELEASE,
        Key("m", "Message", priority=True),
        # No permission: everyone may talk, even before a release is loaded
        # the box opens (the command layer still has the last word).
        palette=Palette("Write a message", "Post to the communication log"),
        ask=Ask.MESSAGE,
        build=lambda s: d.PostMessage(s.text),
        subcommand=Cli("say", "Post a message to the communication log."),
    ),
    # Reading the record writes nothing to the room: no command, no permission.
    Spec(
        "write_report",
        H_REPORT,
        Target.RELEASE,
        Key("W", "Report"),
        palette=Palette(
            "Write the post-release report", "Markdown, beside the database or where you say"
        ),
    ),
    Spec(
        "zoom",
        H_ZOOM,
        Target.VIEW,
        Key("z", "Zoom"),
        palette=Palette("Zoom pane", "Full-screen the focused pane and back"),
    ),
    *(
        Spec(
            f"focus_pane('{pane}')",
            H_PANES,
            Target.VIEW,
            Key(str(number), label, show=False, priority=True),
            palette=Palette(f"Go to {pane} pane", f"Focus the {pane} pane"),
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
    Spec("unzoom", H_ZOOM, Target.VIEW, Key("escape", "Unzoom", show=False)),
    Spec(
        "toggle_item",
        H_TOGGLE,
        Target.ITEM,
        Key("space", owner="checklist"),
        Action.CHECK_ITEM,
        Palette("Toggle checklist item", "Check or uncheck the highlighted item"),
        build=_toggle,
    ),
    Spec(
        "check_items",
        H_TOGGLE,
        Target.ITEM,
        permission=Action.CHECK_ITEM,
        build=lambda s: d.SetItems(s.names, True),
        subcommand=Cli(
            "item check",
            "Check one or more items, all or none: gng-N for go/no-go, TEAM-N for readiness.",
        ),
    ),
    Spec(
        "uncheck_items",
        H_TOGGLE,
        Target.ITEM,
        permission=Action.CHECK_ITEM,
        build=lambda s: d.SetItems(s.names, False),
        subcommand=Cli("item uncheck", "Uncheck one or more items, all or none."),
    ),
    # Replay: the room as it was, rebuilt from the record (`warroom replay`).
    Spec(
        "replay",
        H_REPLAY,
        Target.VIEW,
        Key("H", "Replay", show=False, owner=LIVE),
        palette=Palette("Replay the day", "The room as it was at any moment, read-only"),
    ),
    _replay("replay_step(-1)", H_EVENT, ",", "Event", "previous event", "One event back"),
    _replay("replay_step(1)", H_EVENT, ".", "Event", "next event", "One event on"),
    _replay("replay_shift(-60)", H_MINUTE, "[", "±1m", "a minute back", "A minute earlier"),
    _replay("replay_shift(60)", H_MINUTE, "]", "±1m", "a minute on", "A minute later"),
    _replay("replay_shift(-600)", H_TEN, "{", "±10m", "ten minutes back", "Ten minutes earlier"),
    _replay("replay_shift(600)", H_TEN, "}", "±10m", "ten minutes on", "Ten minutes later"),
    _replay(
        "replay_mark(-1)",
        H_MARK,
        "<",
        "Trigger/decision",
        "previous trigger or decision",
        "Back to the last trigger change or decision",
    ),
    _replay(
        "replay_mark(1)",
        H_MARK,
        ">",
        "Trigger/decision",
        "next trigger or decision",
        "On to the next trigger change or decision",
    ),
    Spec(
        "leave_replay",
        H_LEAVE,
        Target.VIEW,
        Key("escape", "Live room", owner=REPLAY),
        palette=Palette("Leave the replay", "Back to the live room"),
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
