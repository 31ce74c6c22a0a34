"""How the dashboard acts: every row of the action table, run the same way.

A key, a palette entry or a pane's request (space in the checklist, Enter in
the message box) all end in `ActingScreen.act(name)`, which for that row

1. finds what it applies to, by its target: the selected service (the cursor
   of the pane the person is in), the trigger the banner marks, the
   highlighted checklist item, or the release; with nothing there it says so
   (`Spec.missing`, else the target's sentence in NOTHING);
2. lets the row narrow that down (`Spec.aim`), or refuse in its own words;
3. checks that the viewer may (`domain.roles.refusal`): the same sentence
   greys the key in the footer (`check_action`), answers a greyed key
   (`on_key`) and marks the palette entry;
4. asks what the row needs asked (a reason, the decision, the message);
5. builds the row's command and hands it to the app, which runs it in a
   thread worker and shows the answer.

Keys are bound per class in Textual, so the screen for a table is a class
made from it (`ActingScreen.bound_to`); a screen binds the rows whose key
owner is one of its `KEYS` (the live room: SCREEN and LIVE; a replay: SCREEN
and REPLAY). Rows that only move the view (Target.VIEW), the report (a
RELEASE row without a command) and the demo's fault key are the screens' own
methods.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from functools import cache, partial
from typing import Any, ClassVar, Self, TypeVar, cast

from textual import events, on
from textual.actions import SkipAction
from textual.app import SystemCommand
from textual.binding import Binding, BindingType
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Input

from warroom.commands.catalog import LIVE, REPLAY, Ask, Key, Spec, Subject, Target
from warroom.domain.roles import refusal
from warroom.domain.snapshot import TriggerView
from warroom.domain.text import safe
from warroom.tui.room import Room, room
from warroom.tui.widgets.banner import asking, unacknowledged
from warroom.tui.widgets.checklist import Checklist
from warroom.tui.widgets.comms_log import CommsLog
from warroom.tui.widgets.deploy_table import DeployTable
from warroom.tui.widgets.graph_view import GraphView

SCREEN = "screen"  # Key.owner of the rows every acting screen binds (others: see Key.owner)
SCREENS = frozenset({SCREEN, LIVE, REPLAY})  # owners that are screens, not panes
_Answer = TypeVar("_Answer")  # what a dialog dismisses with

# When a target has nothing to act on: the reason that greys the key (it
# follows "Not allowed"), and the warning when a key gets through anyway (the
# pane moved on since the footer was drawn). Items and the release say nothing.
NOTHING: dict[Target, tuple[str, str]] = {
    Target.SERVICE: ("select a service first", "Select a service first (deploy table or graph)."),
    Target.TRIGGER: ("no unacknowledged trigger is firing", "No unacknowledged trigger is firing."),
    Target.INCONCLUSIVE: ("no trigger is inconclusive", "No trigger is waiting for an answer."),
}


@dataclass(frozen=True)
class Aim:
    """What a row acts on, and what its refusal sentence is about."""

    subject: Subject
    team: str | None = None  # whose it is: the permission depends on it
    about: str | None = None  # the name refusals and questions use
    follow: str | None = None  # the service the selection moves to once allowed


def screen_keys(
    actions: Iterable[Spec], owners: tuple[str, ...] = (SCREEN,)
) -> Iterator[tuple[Spec, Key]]:
    """The rows whose key a screen binding `owners` binds (others: a pane, or
    another screen), with the key: in the order of `owners`, then the table's."""
    for owner in owners:
        for spec in actions:
            if spec.binding is not None and spec.binding.owner == owner:
                yield spec, spec.binding


def bindings(
    actions: Iterable[Spec],
    owners: tuple[str, ...] = (SCREEN,),
    in_footer: Callable[[Spec, Key], bool] = lambda spec, key: key.show,
) -> list[BindingType]:
    """The screen's keys: one per row with a key that the screen owns, in that
    order (the footer's); `in_footer` says which the footer shows."""
    return [
        Binding(
            key.key,
            spec.name,
            key.label,
            show=in_footer(spec, key),
            key_display=key.display,
            priority=key.priority,
            group=Binding.Group(key.group) if key.group else None,
        )
        for spec, key in screen_keys(actions, owners)
    ]


HELP_KEY = Binding("question_mark", "app.help", "Help", key_display="?")


@cache
def _by_name(actions: tuple[Spec, ...]) -> dict[str, Spec]:
    return {spec.name: spec for spec in actions}


@cache  # one class per screen and table: Textual binds keys per class
def _bound(screen: type[ActingScreen], actions: tuple[Spec, ...]) -> type[ActingScreen]:
    namespace: dict[str, Any] = {
        "__module__": screen.__module__,
        "__qualname__": screen.__qualname__,
        "ACTIONS": actions,
        # `?` leads the footer: on a narrow terminal the footer's tail is cut,
        # and the way to every key must never be what is cut.
        "BINDINGS": [HELP_KEY, *bindings(actions, screen.KEYS, screen.in_footer)],
    }
    for spec in actions:
        pane_bound = spec.binding is not None and spec.binding.owner not in SCREENS
        if spec.build is not None and not pane_bound:
            namespace[f"action_{spec.name}"] = _action_method(spec.name, spec.help.text)
    return type(screen.__name__, (screen,), namespace)


def _action_method(name: str, doc: str) -> Callable[[ActingScreen], None]:
    def action(self: ActingScreen) -> None:
        self.act(name)

    action.__doc__ = doc
    return action


class ActingScreen(Screen[None]):
    """A screen whose keys, footer, palette and refusals come from an action table."""

    ACTIONS: ClassVar[tuple[Spec, ...]] = ()
    KEYS: ClassVar[tuple[str, ...]] = (SCREEN, LIVE)
    """The key owners (Key.owner) whose rows this screen binds, in the order
    the footer shows them."""

    selected: reactive[str | None] = reactive(None, init=False)
    """The selected service, by name: what the service keys act on, highlighted
    (and marked with ❯) in the graph and the deploy table alike."""

    @classmethod
    def bound_to(cls, actions: tuple[Spec, ...]) -> type[Self]:
        """This screen with `actions` as its keys: a binding per row the screen
        owns, and an `action_<name>` for each that builds a command."""
        return cast("type[Self]", _bound(cls, actions))

    @property
    def room(self) -> Room:
        return room(self.app)

    def spec_named(self, name: str) -> Spec | None:
        """This screen's row called `name` (an action name, without parameters)."""
        return _by_name(self.ACTIONS).get(name)

    # ---------------------------------------------------------------- what the keys act on

    def _highlighted(self) -> str | None:
        """The service highlighted where the person is: the cursor of the
        focused graph or table (even before its message has arrived), else
        the selection both show."""
        focused = self.focused
        if isinstance(focused, DeployTable | GraphView) and focused.selected is not None:
            return focused.selected
        return self.selected

    def _catch_up_selection(self) -> None:
        """Before acting: the selection is what the focused pane highlights now."""
        self.selected = self._highlighted()

    def _banner_trigger(self) -> TriggerView | None:
        """The trigger the banner keys act on: the selected service's, else the first firing."""
        snapshot = self.room.snapshot
        if snapshot is None:
            return None
        return self._mine_first(unacknowledged(snapshot))

    def _asked_trigger(self) -> TriggerView | None:
        """The inconclusive trigger `i` answers: the selected service's, else the first."""
        snapshot = self.room.snapshot
        return self._mine_first(asking(snapshot)) if snapshot is not None else None

    def _mine_first(self, triggers: list[TriggerView]) -> TriggerView | None:
        mine = [t for t in triggers if t.service == self._highlighted()]
        candidates = mine or triggers
        return candidates[0] if candidates else None

    def _typing(self) -> bool:
        return isinstance(self.focused, Input)

    def _aim(self, spec: Spec, pointed: str | None = None) -> Aim | None:
        """What `spec` would act on now (None: nothing); `pointed` is the
        service or item a pane named, instead of the highlighted one."""
        snapshot = self.room.snapshot
        if spec.target is Target.RELEASE:
            return Aim(Subject())
        if snapshot is None or spec.target is Target.VIEW:
            return None
        if spec.target is Target.SERVICE:
            service = snapshot.service(pointed or self._highlighted() or "")
            if service is None:
                return None
            subject = Subject(service.name, version=service.row_version)
            return Aim(subject, service.team, service.name)
        if spec.target in {Target.TRIGGER, Target.INCONCLUSIVE}:
            firing = spec.target is Target.TRIGGER
            trigger = self._banner_trigger() if firing else self._asked_trigger()
            if trigger is None:
                return None
            # Who may act on a trigger depends on its service's team; a
            # question names the trigger it asks about, an action its service.
            target = snapshot.service(trigger.service)
            team = target.team if target else None
            about = trigger.service if firing else trigger.id
            return Aim(Subject(trigger.id), team, about, follow=trigger.service)
        item = snapshot.item(pointed or self.query_one(Checklist).highlighted_key or "")
        if item is None:
            return None
        subject = Subject(item.key, done=item.done, version=item.row_version)
        return Aim(subject, item.team, item.key)

    # ---------------------------------------------------------------- who may

    def refusal_for(self, spec: Spec) -> str | None:
        """Why the viewer may not take `spec`'s action now (the footer greys it out)."""
        return self._refusal(spec, self._aim(spec))

    def _refusal(self, spec: Spec, aim: Aim | None) -> str | None:
        me = self.room.me
        if self.room.snapshot is None:
            return "no release is loaded"
        if me is None:
            return f"{self.room.config.identity} is not a person in this release"
        if spec.permission is None:
            return None
        if aim is None:
            return NOTHING[spec.target][0] if spec.target in NOTHING else None
        return refusal(me.actor, spec.permission, aim.team, aim.about)

    @classmethod
    def in_footer(cls, spec: Spec, key: Key) -> bool:
        """Whether the footer shows `spec`'s key (help and the palette show every one)."""
        return key.show

    def may_refuse(self, spec: Spec) -> bool:
        """Whether `spec` can be refused here (its key greys, the palette says
        why): rows that need a permission."""
        return spec.permission is not None

    def _greyed(self) -> tuple[bool, ...]:
        """Which of the screen's keys the footer shows greyed out."""
        return tuple(
            self.refusal_for(spec) is not None
            for spec, _ in screen_keys(self.ACTIONS, self.KEYS)
            if self.may_refuse(spec)
        )

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        spec = _by_name(self.ACTIONS).get(action)
        if spec is not None and self.may_refuse(spec):
            # None: shown greyed out in the footer rather than hidden.
            return None if self.refusal_for(spec) else True
        return True

    def on_key(self, event: events.Key) -> None:
        """A greyed-out key still answers: say why, rather than ignore the press."""
        active = self.active_bindings.get(event.key)
        if active is None or active.node is not self or active.enabled:
            return
        spec = _by_name(self.ACTIONS).get(active.binding.action)
        reason = self.refusal_for(spec) if spec is not None else None
        if reason is not None:
            event.stop()
            self._not_allowed(reason)

    def _not_allowed(self, reason: str) -> None:
        self.notify(reason, title="Not allowed", severity="warning")

    # ---------------------------------------------------------------- acting

    def act(self, name: str, pointed: str | None = None, text: str | None = None) -> None:
        """Take the action of row `name`: see the module's docstring. `pointed`
        names the item or service a pane asked about; `text` is a message
        already written (the message box)."""
        spec = _by_name(self.ACTIONS)[name]
        if spec.target in {Target.SERVICE, Target.TRIGGER, Target.INCONCLUSIVE}:
            self._catch_up_selection()
        aim = self._aim(spec, pointed)
        if aim is None:
            warning = spec.missing or (NOTHING[spec.target][1] if spec.target in NOTHING else "")
            if warning:
                self.notify(warning, severity="warning")
            return
        snapshot = self.room.snapshot
        if spec.aim is not None and snapshot is not None:
            narrowed = spec.aim(snapshot, aim.subject)
            if isinstance(narrowed, str):
                self.notify(narrowed, severity="warning")
                return
            aim = replace(aim, subject=narrowed, follow=narrowed.name)
        if spec.permission is not None and (reason := self._refusal(spec, aim)) is not None:
            self._not_allowed(reason)
            return
        if aim.follow is not None:
            self.selected = aim.follow  # to what the action is about
        self._ask(spec, aim, text)

    def _ask(self, spec: Spec, aim: Aim, text: str | None) -> None:
        from warroom.tui.screens.answer import AnswerRequest, AnswerScreen
        from warroom.tui.screens.decision import DecisionRequest, DecisionScreen
        from warroom.tui.screens.override import OverrideRequest, OverrideScreen
        from warroom.tui.screens.prompt import PromptScreen

        subject, snapshot = aim.subject, self.room.snapshot
        question = f"{safe(aim.about)}: {spec.question}" if aim.about else spec.question

        def then(build: Callable[[_Answer], Subject]) -> Callable[[_Answer | None], None]:
            """A dialog's callback: nothing when it was cancelled, else the
            command built from its answer."""

            def answered(answer: _Answer | None) -> None:
                if answer is not None:
                    self._send(spec, aim, build(answer))

            return answered

        if spec.ask is Ask.REASON:

            def reasoned(reason: str) -> Subject:
                return replace(subject, reason=reason)

            self.app.push_screen(PromptScreen(question), then(reasoned))
        elif spec.ask is Ask.DECISION:
            assert snapshot is not None, "deciding needs a release (refused without one)"

            def decided(r: DecisionRequest) -> Subject:
                return replace(subject, kind=r.kind, subset=r.subset, reason=r.rationale)

            self.app.push_screen(DecisionScreen(snapshot), then(decided))
        elif spec.ask is Ask.OVERRIDE:
            assert snapshot is not None, "overriding needs a release (refused without one)"

            def given(r: OverrideRequest) -> Subject:
                return replace(subject, name=r.target, reason=r.reason, duration=r.duration)

            self.app.push_screen(OverrideScreen(snapshot, self.room.clock.now()), then(given))
        elif spec.ask is Ask.ANSWER:
            trigger = snapshot.trigger(subject.name or "") if snapshot is not None else None
            detail = (trigger.detail or trigger.when) if trigger is not None else ""

            def chosen(r: AnswerRequest) -> Subject:
                return replace(subject, answer=r.answer, reason=r.reason)

            self.app.push_screen(AnswerScreen(question, detail), then(chosen))
        elif spec.ask is Ask.MESSAGE:
            if text is not None:
                self._send(spec, aim, replace(subject, text=text))  # written in the message box
            elif self._typing():
                raise SkipAction  # the key is a letter in a text box
            else:
                self.query_one(CommsLog).action_compose()  # the box answers: MessageSubmitted
        else:
            self._send(spec, aim, subject)

    def _send(self, spec: Spec, aim: Aim, subject: Subject) -> None:
        # Asked again: the answer may have taken a while, and the room moves.
        reason = self._refusal(spec, aim)
        if reason is not None:
            self._not_allowed(reason)
            return
        assert spec.build is not None, f"{spec.name} builds no command"
        self.room.run_command(spec.build(subject))

    # The panes' own requests: their rows, with what the pane already knows.

    @on(Checklist.ToggleRequested)
    def _toggle(self, event: Checklist.ToggleRequested) -> None:
        self.act("toggle_item", pointed=event.key)

    @on(CommsLog.MessageSubmitted)
    def _say(self, event: CommsLog.MessageSubmitted) -> None:
        self.act("compose", text=event.text)

    # ---------------------------------------------------------------- palette

    def palette_commands(self) -> Iterable[SystemCommand]:
        """Every row with a title, by name; what the viewer may not do says why."""
        for spec in self.ACTIONS:
            if spec.palette is None:
                continue
            owner = spec.binding.owner if spec.binding else SCREEN
            if owner in SCREENS and owner not in self.KEYS:
                continue  # another screen's (the replay's keys, in the live room)
            key = f" ({spec.binding.shown})" if spec.binding else ""
            help_text = f"{spec.palette.summary}{key}"
            reason = self.refusal_for(spec) if self.may_refuse(spec) else None
            if reason is not None:
                help_text += f" — not for you: {reason}"
            run = (
                partial(self.act, spec.name) if spec.build else partial(self.run_action, spec.name)
            )
            yield SystemCommand(spec.palette.title, help_text, run)
