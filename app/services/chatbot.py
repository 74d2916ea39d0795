"""Chatbot scripts (SPEC §7.7): which step comes next, as pure functions of the steps and answers.

A script is its steps in order. A step runs when it has no condition, or when the earlier step
it names was answered with one of its `only_if_answer` lines (case and spaces aside). The live
session (services/livechat.py) and the editor's test run both walk a script with `next_step`
and `check_answer`, so what the admin tries is what visitors get.
"""
from dataclasses import dataclass, field

from app.services import contacts

MAX_ANSWER_CHARS = 1000


class AnswerError(ValueError):
    """The visitor's answer does not fit the step (a button's label, an email address)."""


def _norm(value: str) -> str:
    return " ".join((value or "").split()).casefold()


def applies(step, answers: dict) -> bool:
    """May `step` run, given the answers so far (step id as a string -> answer)?"""
    if step.only_if_step_id is None:
        return True
    given = answers.get(str(step.only_if_step_id))
    if given is None:
        return False
    wanted = {_norm(line) for line in step.condition_list}
    return not wanted or _norm(given) in wanted


def next_step(steps, after_id: int | None, answers: dict):
    """The first step after the step `after_id` (None: from the start) that applies, or None."""
    position = 0
    if after_id is not None:
        ids = [s.id for s in steps]
        position = ids.index(after_id) + 1 if after_id in ids else len(steps)
    for step in steps[position:]:
        if applies(step, answers):
            return step
    return None


def check_answer(step, text: str) -> str:
    """The answer to keep for a waiting step, or AnswerError with what to say to the visitor."""
    text = " ".join((text or "").split()) if step.kind != "free_text" else (text or "").strip()
    if not text:
        raise AnswerError("Please write an answer.")
    if len(text) > MAX_ANSWER_CHARS:
        raise AnswerError(f"Please keep it under {MAX_ANSWER_CHARS} characters.")
    if step.kind == "question" and step.answer_list:
        for label in step.answer_list:
            if _norm(label) == _norm(text):
                return label
        raise AnswerError("Please choose one of the answers below.")
    if step.kind == "email":
        try:
            return contacts.normalize_address(text)
        except contacts.AddressError:
            raise AnswerError("That does not look like an email address. Could you check it?")
    return text


@dataclass
class Line:
    """One line of a test run: who speaks, what, and the buttons offered."""
    speaker: str  # bot | visitor | system
    text: str
    buttons: list[str] = field(default_factory=list)


def simulate(steps, replies) -> list[Line]:
    """Walk a script as a visitor giving `replies` in turn (the editor's test run).

    Stops at a step that waits when the replies run out, or at a forward or ticket step
    (said as a system line)."""
    lines, answers, replies = [], {}, list(replies)
    step = next_step(steps, None, answers)
    while step is not None:
        if step.kind == "forward":
            lines.append(Line("system", "The chat is handed to an available operator."))
            return lines
        if step.kind == "ticket":
            lines.append(Line("system", "A ticket is opened with the conversation so far."))
        elif step.message:
            lines.append(Line("bot", step.message, step.answer_list if step.kind == "question" else []))
        if step.waits:
            while True:
                if not replies:
                    return lines
                reply = replies.pop(0)
                lines.append(Line("visitor", reply))
                try:
                    answers[str(step.id)] = check_answer(step, reply)
                    break
                except AnswerError as err:
                    lines.append(Line("bot", str(err), step.answer_list if step.kind == "question" else []))
        step = next_step(steps, step.id, answers)
    lines.append(Line("system", "End of the script: the chat is handed to an available operator."))
    return lines
