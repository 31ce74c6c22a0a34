"""The release manager's answer to an inconclusive trigger: roll back or carry on, and why."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, RadioButton, RadioSet, Static

from warroom.domain.text import safe
from warroom.domain.triggers import Answer


@dataclass(frozen=True)
class AnswerRequest:
    answer: Answer
    reason: str


class AnswerScreen(ModalScreen[AnswerRequest | None]):
    """Asks which way (nothing is picked for the person) and why; Escape cancels."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, question: str, detail: str) -> None:
        super().__init__()
        self.question = question
        self.detail = detail

    def compose(self) -> ComposeResult:
        with Vertical(id="answer-box", classes="dialog"):
            yield Label(self.question, id="answer-question", markup=False)
            yield Static(Text(safe(self.detail), "italic"), id="answer-detail")
            with RadioSet(id="answer-choice"):
                yield RadioButton(
                    "Roll back — the trigger fires and offers its rollback plan (b)",
                    id="answer-rollback",
                )
                yield RadioButton(
                    "Carry on — it asks again after another run it cannot judge",
                    id="answer-carry-on",
                )
            yield Label("Why? (goes in the log)")
            yield Input(placeholder="what you know that the rule does not", id="answer-reason")
            yield Static("", id="answer-check")
            with Horizontal(id="answer-buttons"):
                yield Button("Answer", variant="primary", id="answer-send")
                yield Button("Cancel", id="answer-cancel")

    def on_mount(self) -> None:
        self.query_one("#answer-box").border_title = "The rule cannot tell"
        self.query_one(RadioSet).focus()

    @property
    def answer(self) -> Answer | None:
        pressed = self.query_one(RadioSet).pressed_button
        if pressed is None:
            return None
        return Answer.ROLL_BACK if pressed.id == "answer-rollback" else Answer.CARRY_ON

    @on(Button.Pressed, "#answer-send")
    @on(Input.Submitted, "#answer-reason")
    def action_send(self) -> None:
        answer = self.answer
        reason = self.query_one("#answer-reason", Input).value.strip()
        missing = (
            "Pick roll back or carry on."
            if answer is None
            else "Say why (the reason goes in the log)."
            if not reason
            else None
        )
        if missing is not None or answer is None:
            self.query_one("#answer-check", Static).update(Text(missing or "", "bold red"))
            return
        self.dismiss(AnswerRequest(answer, reason))

    @on(Button.Pressed, "#answer-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
