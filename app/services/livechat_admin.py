"""Live chat settings (SPEC §7.1, §7.7): channels, their operators and rules, chatbot scripts and
their steps, as Settings › Live chat changes them.

Each function checks what an admin typed and raises `LivechatSetupError` (with `field` naming the
form field when there is one) for anything refused. The rules that keep a script walkable live
here: a step's condition names an earlier step that waits for an answer, in the same script, and
a question's answers and its dependants' conditions stay in step. Nothing here commits.
"""
import re
import secrets
from dataclasses import dataclass

from sqlalchemy import func, select

from app.extensions import db
from app.models import (RULE_ACTIONS, STEP_KINDS, ChannelOperator, ChatbotScript, ChatbotStep, LivechatChannel,
                        LivechatRule, LivechatSession, Team, User)
from app.services import chatbot

COLOR = re.compile(r"#[0-9a-fA-F]{6}")
COUNTRY = re.compile(r"[A-Za-z]{2}")
MAX_NAME = 80
MAX_BUTTON_TEXT = 60
MAX_HEADER_TEXT = 80
MAX_WELCOME = 2000
MAX_PLACEHOLDER = 120
MAX_BOT_NAME = 60
MAX_URL_PATTERN = 300
MAX_COUNTRIES = 300
MAX_AUTO_OPEN_SECONDS = 3600
MAX_MESSAGE = 2000
MAX_ANSWERS = 10
MAX_ANSWER = 60
MAX_CONDITION = 2000
WAITING_KINDS = ("question", "email", "free_text")  # the steps whose answer a condition can test
STEP_LABELS = {
    "text": "Say something",
    "question": "Ask a question (answer buttons)",
    "email": "Ask for an email address",
    "free_text": "Ask for a free answer",
    "forward": "Hand over to an operator",
    "ticket": "Open a ticket",
}
ACTION_LABELS = {"show": "Show the button", "auto": "Open the chat automatically", "hide": "Hide the button"}


class LivechatSetupError(ValueError):
    """A setting the rules refuse; `field` names the form field the message belongs to."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


def _line(text: str | None) -> str:
    return " ".join((text or "").split())


def _block(text: str | None) -> str:
    return (text or "").replace("\r\n", "\n").replace("\r", "\n").strip()


def _lines(text: str | None) -> list[str]:
    return [_line(line) for line in _block(text).split("\n") if _line(line)]


def _limited(text: str, limit: int, what: str, field: str) -> str:
    if len(text) > limit:
        raise LivechatSetupError(f"{what} has at most {limit:,} characters.", field)
    return text


def _renumber(records) -> None:
    for position, record in enumerate(records, start=1):
        record.sequence = position * 10


def _swap(records: list, record, direction: str) -> list | None:
    """`records` with `record` swapped with its neighbour, or None at an end."""
    index = records.index(record)
    other = index - 1 if direction == "up" else index + 1 if direction == "down" else -1
    if not 0 <= other < len(records):
        return None
    records = list(records)
    records[index], records[other] = records[other], records[index]
    return records


# ---- channels ----------------------------------------------------------------------------------

@dataclass
class ChannelRow:
    channel: LivechatChannel
    operators: int
    live_sessions: int


def channel_rows() -> list[ChannelRow]:
    """Every channel, active ones first, with its operators and chats not yet ended."""
    operators = dict(db.session.execute(
        select(ChannelOperator.channel_id, func.count(ChannelOperator.id)).group_by(ChannelOperator.channel_id)).all())
    live = dict(db.session.execute(
        select(LivechatSession.channel_id, func.count(LivechatSession.id)).where(LivechatSession.state != "ended")
        .group_by(LivechatSession.channel_id)).all())
    channels = db.session.scalars(select(LivechatChannel).order_by(LivechatChannel.active.desc(),
                                                                   func.lower(LivechatChannel.name)))
    return [ChannelRow(c, operators.get(c.id, 0), live.get(c.id, 0)) for c in channels]


def _check_channel(current: LivechatChannel | None, *, name, button_text, header_text, welcome_message, placeholder,
                   button_color, header_color, bot_name, team: Team | None) -> dict:
    """The cleaned fields, or LivechatSetupError on the first one that is wrong."""
    name = _line(name)
    if not name:
        raise LivechatSetupError("Give the channel a name, such as the website it is on.", "name")
    _limited(name, MAX_NAME, "A name", "name")
    taken = select(LivechatChannel.id).where(func.lower(LivechatChannel.name) == name.lower())
    if current is not None:
        taken = taken.where(LivechatChannel.id != current.id)
    if db.session.scalar(taken.limit(1)) is not None:
        raise LivechatSetupError(f"There is already a channel named “{name}”.", "name")
    button_text = _line(button_text)
    if not button_text:
        raise LivechatSetupError("The button needs a text, such as “Chat with us”.", "button_text")
    fields = {
        "name": name,
        "button_text": _limited(button_text, MAX_BUTTON_TEXT, "The button's text", "button_text"),
        "header_text": _limited(_line(header_text), MAX_HEADER_TEXT, "The header", "header_text"),
        "welcome_message": _limited(_block(welcome_message), MAX_WELCOME, "The welcome message", "welcome_message"),
        "placeholder": _limited(_line(placeholder), MAX_PLACEHOLDER, "The placeholder", "placeholder"),
        "bot_name": _limited(_line(bot_name), MAX_BOT_NAME, "The bot's name", "bot_name"),
    }
    if not fields["bot_name"]:
        raise LivechatSetupError("The bot needs a name; visitors see it beside its messages.", "bot_name")
    for field, value in (("button_color", button_color), ("header_color", header_color)):
        value = (value or "").strip()
        if not COLOR.fullmatch(value):
            raise LivechatSetupError("A colour is written #rrggbb, such as #4f46e5.", field)
        fields[field] = value.lower()
    # A channel may stay on a team archived later, but none is put on one.
    if team is not None and not team.active and (current is None or current.team_id != team.id):
        raise LivechatSetupError(f"The team {team.name} is archived.", "team")
    fields["team"] = team
    return fields


def create_channel(*, name: str, button_text: str, header_text: str = "", welcome_message: str = "",
                   placeholder: str = "", button_color: str, header_color: str, bot_name: str,
                   team: Team | None = None, active: bool = True) -> LivechatChannel:
    """A new channel with its public key and the secret that signs visitors' identities."""
    fields = _check_channel(None, name=name, button_text=button_text, header_text=header_text,
                            welcome_message=welcome_message, placeholder=placeholder, button_color=button_color,
                            header_color=header_color, bot_name=bot_name, team=team)
    channel = LivechatChannel(**fields, active=bool(active), key=_new_key(),
                              identity_secret=secrets.token_hex(32))
    db.session.add(channel)
    db.session.flush()
    return channel


def _new_key() -> str:
    while True:  # 96 random bits: a clash is next to impossible, and costs one query to rule out
        key = secrets.token_urlsafe(12)[:16]
        if db.session.scalar(select(LivechatChannel.id).where(LivechatChannel.key == key)) is None:
            return key


def update_channel(channel: LivechatChannel, *, name: str, button_text: str, header_text: str, welcome_message: str,
                   placeholder: str, button_color: str, header_color: str, bot_name: str, team: Team | None,
                   active: bool) -> None:
    """Change a channel's look, texts, team and whether it is on (same rules as create_channel)."""
    fields = _check_channel(channel, name=name, button_text=button_text, header_text=header_text,
                            welcome_message=welcome_message, placeholder=placeholder, button_color=button_color,
                            header_color=header_color, bot_name=bot_name, team=team)
    for key, value in fields.items():
        setattr(channel, key, value)
    channel.active = bool(active)
    db.session.flush()


def regenerate_identity_secret(channel: LivechatChannel) -> None:
    """A new identity secret: hashes a site made with the old one stop being trusted."""
    channel.identity_secret = secrets.token_hex(32)
    db.session.flush()


def session_count(channel: LivechatChannel) -> int:
    """How many chats the channel ever had (ended ones included)."""
    return db.session.scalar(select(func.count(LivechatSession.id))
                             .where(LivechatSession.channel_id == channel.id)) or 0


def delete_channel(channel: LivechatChannel) -> None:
    """Delete a channel that never had a chat; one with chats is turned off instead (its history stays)."""
    chats = session_count(channel)
    if chats:
        raise LivechatSetupError(f"{channel.name} has {chats} chat{'s' if chats != 1 else ''}: turn the channel off "
                                 "instead, so that their history stays.")
    db.session.delete(channel)
    db.session.flush()


# ---- operators ---------------------------------------------------------------------------------

def operator_candidates(channel: LivechatChannel) -> list[User]:
    """Active staff who do not answer the channel yet, by name."""
    already = select(ChannelOperator.user_id).where(ChannelOperator.channel_id == channel.id)
    return list(db.session.scalars(
        select(User).where(User.active.is_(True), User.role.in_(("admin", "agent")), User.id.not_in(already))
        .order_by(func.lower(User.name))))


def add_operator(channel: LivechatChannel, user: User) -> ChannelOperator:
    """`user` answers the channel's chats from now on; only active staff can."""
    if not user.active or not user.is_staff:
        raise LivechatSetupError(f"{user.name} cannot answer chats: only active staff can.", "user")
    if channel.has_operator(user):
        raise LivechatSetupError(f"{user.name} already answers {channel.name}.", "user")
    operator = ChannelOperator(channel_id=channel.id, user_id=user.id)
    db.session.add(operator)
    db.session.flush()
    db.session.expire(channel, ["operators"])
    return operator


def remove_operator(channel: LivechatChannel, user: User) -> None:
    """`user` gets no new chats of the channel; the chats they have stay theirs."""
    operator = db.session.scalar(select(ChannelOperator).where(ChannelOperator.channel_id == channel.id,
                                                               ChannelOperator.user_id == user.id))
    if operator is None:
        raise LivechatSetupError(f"{user.name} does not answer {channel.name}.", "user")
    db.session.delete(operator)
    db.session.flush()
    db.session.expire(channel, ["operators"])


# ---- rules -------------------------------------------------------------------------------------

def _check_rule(*, url_pattern, countries, action, auto_open_seconds, script, bot_only_when_offline) -> dict:
    url_pattern = (url_pattern or "").strip()
    _limited(url_pattern, MAX_URL_PATTERN, "A page pattern", "url_pattern")
    try:
        re.compile(url_pattern)
    except re.error as err:
        raise LivechatSetupError(f"This is not a valid regular expression: {err}.", "url_pattern") from None
    codes = []
    for code in re.split(r"[,;\s]+", countries or ""):
        if not code:
            continue
        if not COUNTRY.fullmatch(code):
            raise LivechatSetupError(f"“{code[:20]}” is not a country code: use two letters, such as FR or GB, "
                                     "separated by commas.", "countries")
        if code.upper() not in codes:
            codes.append(code.upper())
    countries = _limited(", ".join(codes), MAX_COUNTRIES, "The list of countries", "countries")
    if action not in RULE_ACTIONS:
        raise LivechatSetupError("Pick what the rule does.", "action")
    if action == "auto":
        if auto_open_seconds is None or not 0 <= auto_open_seconds <= MAX_AUTO_OPEN_SECONDS:
            raise LivechatSetupError(f"Open the chat after 0 to {MAX_AUTO_OPEN_SECONDS} seconds.", "auto_open_seconds")
    else:
        auto_open_seconds = 0  # only "auto" waits
    return {"url_pattern": url_pattern, "countries": countries, "action": action,
            "auto_open_seconds": auto_open_seconds, "script": script,
            "bot_only_when_offline": bool(bot_only_when_offline) and script is not None}


def create_rule(channel: LivechatChannel, *, url_pattern: str = "", countries: str = "", action: str = "show",
                auto_open_seconds: int | None = 0, script: ChatbotScript | None = None,
                bot_only_when_offline: bool = False) -> LivechatRule:
    """A rule after the channel's others (the first rule that matches a page decides)."""
    fields = _check_rule(url_pattern=url_pattern, countries=countries, action=action,
                         auto_open_seconds=auto_open_seconds, script=script,
                         bot_only_when_offline=bot_only_when_offline)
    last = db.session.scalar(select(func.max(LivechatRule.sequence)).where(LivechatRule.channel_id == channel.id))
    rule = LivechatRule(channel=channel, sequence=(last or 0) + 10, **fields)
    db.session.add(rule)
    db.session.flush()
    return rule


def update_rule(rule: LivechatRule, *, url_pattern: str, countries: str, action: str, auto_open_seconds: int | None,
                script: ChatbotScript | None, bot_only_when_offline: bool) -> None:
    """Change a rule (same checks as create_rule); its place stays."""
    fields = _check_rule(url_pattern=url_pattern, countries=countries, action=action,
                         auto_open_seconds=auto_open_seconds, script=script,
                         bot_only_when_offline=bot_only_when_offline)
    for key, value in fields.items():
        setattr(rule, key, value)
    db.session.flush()


def move_rule(rule: LivechatRule, direction: str) -> bool:
    """One place up or down the channel's rules (renumbered 10, 20, …); False at an end."""
    rules = _swap(list(rule.channel.rules), rule, direction)
    if rules is None:
        return False
    _renumber(rules)
    db.session.flush()
    db.session.expire(rule.channel, ["rules"])
    return True


def delete_rule(rule: LivechatRule) -> None:
    """Remove a rule; the channel's others keep their order."""
    channel = rule.channel
    channel.rules.remove(rule)
    db.session.flush()


# ---- chatbot scripts ---------------------------------------------------------------------------

@dataclass
class ScriptRow:
    script: ChatbotScript
    steps: int
    rules: int


def scripts() -> list[ChatbotScript]:
    """Every script by name (a rule's choice of bot)."""
    return list(db.session.scalars(select(ChatbotScript).order_by(func.lower(ChatbotScript.name))))


def script_rows() -> list[ScriptRow]:
    """Every script by name, with its steps and the rules that start it."""
    steps = dict(db.session.execute(
        select(ChatbotStep.script_id, func.count(ChatbotStep.id)).group_by(ChatbotStep.script_id)).all())
    rules = dict(db.session.execute(
        select(LivechatRule.script_id, func.count(LivechatRule.id)).where(LivechatRule.script_id.is_not(None))
        .group_by(LivechatRule.script_id)).all())
    return [ScriptRow(s, steps.get(s.id, 0), rules.get(s.id, 0)) for s in scripts()]


def _script_name(name: str | None) -> str:
    name = _line(name)
    if not name:
        raise LivechatSetupError("Give the script a name, such as “Sales or support?”.", "name")
    return _limited(name, MAX_NAME, "A name", "name")


def create_script(name: str) -> ChatbotScript:
    """A new, empty script."""
    script = ChatbotScript(name=_script_name(name))
    db.session.add(script)
    db.session.flush()
    return script


def rename_script(script: ChatbotScript, name: str) -> None:
    """Rename a script (same rule as create_script)."""
    script.name = _script_name(name)
    db.session.flush()


def rules_using(script: ChatbotScript) -> list[LivechatRule]:
    """The rules that start `script`, channel by channel."""
    return list(db.session.scalars(select(LivechatRule).where(LivechatRule.script_id == script.id)
                                   .order_by(LivechatRule.channel_id, LivechatRule.sequence)))


def delete_script(script: ChatbotScript) -> int:
    """Delete a script and its steps; the rules that started it start no bot. Returns how many rules."""
    rules = rules_using(script)
    for rule in rules:
        rule.script = None
        rule.bot_only_when_offline = False
    db.session.delete(script)
    db.session.flush()
    return len(rules)


# ---- steps -------------------------------------------------------------------------------------

def step_label(step: ChatbotStep) -> str:
    """How conditions and lists name a step: its message's start, else its place and kind."""
    text = _line(step.message)
    if text:
        return text if len(text) <= 50 else text[:49].rstrip() + "…"
    position = next((i for i, s in enumerate(step.script.steps, start=1) if s.id == step.id), 0)
    return f"Step {position} ({STEP_LABELS[step.kind].lower()})"


def condition_text(step: ChatbotStep) -> str:
    """The step's condition in words — “only if ‘Pick one’ was ‘Billing’” — or "" when it always runs."""
    source = db.session.get(ChatbotStep, step.only_if_step_id) if step.only_if_step_id else None
    if source is None:
        return ""
    answers = step.condition_list
    if not answers:
        return f"only if ‘{step_label(source)}’ was answered"
    return f"only if ‘{step_label(source)}’ was " + " or ".join(f"‘{a}’" for a in answers)


def condition_choices(script: ChatbotScript, step: ChatbotStep | None = None) -> list[ChatbotStep]:
    """The steps a condition may test: the ones before `step` (all of them for a new step) that wait
    for an answer."""
    steps = list(script.steps)
    if step is not None and step in steps:
        steps = steps[:steps.index(step)]
    return [s for s in steps if s.kind in WAITING_KINDS]


def _dependants(step: ChatbotStep) -> list[ChatbotStep]:
    return [s for s in step.script.steps if s.only_if_step_id == step.id and s.id != step.id]


def _check_answers(kind: str, answers: str) -> str:
    if kind != "question":
        return ""
    labels = _lines(answers)
    if not labels:
        raise LivechatSetupError("A question needs at least one answer: one per line.", "answers")
    if len(labels) > MAX_ANSWERS:
        raise LivechatSetupError(f"A question has at most {MAX_ANSWERS} answers.", "answers")
    seen = set()
    for label in labels:
        if len(label) > MAX_ANSWER:
            raise LivechatSetupError(f"“{label[:20]}…” is too long for a button: at most {MAX_ANSWER} characters.",
                                     "answers")
        if label.casefold() in seen:
            raise LivechatSetupError(f"“{label}” is there twice.", "answers")
        seen.add(label.casefold())
    return "\n".join(labels)


def _check_condition(script: ChatbotScript, step: ChatbotStep | None, only_if_step: ChatbotStep | None,
                     only_if_answer: str) -> str:
    """The condition's answers as they will be compared (a question's own labels), or a refusal."""
    if only_if_step is None:
        return ""
    if only_if_step not in condition_choices(script, step):
        raise LivechatSetupError("A step can only depend on an earlier question, email or free answer of this script.",
                                 "only_if_step")
    lines = _lines(only_if_answer)
    if len("\n".join(lines)) > MAX_CONDITION:
        raise LivechatSetupError(f"The answers have at most {MAX_CONDITION:,} characters.", "only_if_answer")
    if only_if_step.kind != "question":
        return "\n".join(lines)
    labels = []
    for line in lines:  # the visitor's answer is matched as the live chat matches it
        try:
            labels.append(chatbot.check_answer(only_if_step, line))
        except chatbot.AnswerError:
            raise LivechatSetupError(f"“{line}” is not one of the answers of ‘{step_label(only_if_step)}’: "
                                     f"{', '.join(only_if_step.answer_list)}.", "only_if_answer") from None
    return "\n".join(dict.fromkeys(labels))


def _check_step(script: ChatbotScript, step: ChatbotStep | None, *, kind, message, answers, only_if_step,
                only_if_answer) -> dict:
    if kind not in STEP_KINDS:
        raise LivechatSetupError("Pick what the step does.", "kind")
    message = _limited(_block(message), MAX_MESSAGE, "A message", "message")
    if not message and kind in ("text", *WAITING_KINDS):
        raise LivechatSetupError("Write what the bot says.", "message")
    answers = _check_answers(kind, answers)
    if step is not None:
        _keep_dependants(step, kind, answers)
    return {"kind": kind, "message": message, "answers": answers, "only_if_step": only_if_step,
            "only_if_answer": _check_condition(script, step, only_if_step, only_if_answer)}


def _keep_dependants(step: ChatbotStep, kind: str, answers: str) -> None:
    """Refuse a change that would leave another step's condition testing nothing."""
    dependants = _dependants(step)
    if not dependants:
        return
    if kind not in WAITING_KINDS:
        raise LivechatSetupError(f"‘{step_label(dependants[0])}’ depends on this step's answer: change that step "
                                 "first.", "kind")
    if kind != "question":
        return
    kept = {label.casefold() for label in answers.split("\n")}
    for dependant in dependants:
        for wanted in dependant.condition_list:
            if wanted.casefold() not in kept:
                raise LivechatSetupError(f"‘{step_label(dependant)}’ runs only after the answer ‘{wanted}’: keep it, "
                                         "or change that step first.", "answers")


def create_step(script: ChatbotScript, *, kind: str, message: str = "", answers: str = "",
                only_if_step: ChatbotStep | None = None, only_if_answer: str = "") -> ChatbotStep:
    """A step at the end of the script. `answers` and `only_if_answer` are one per line."""
    fields = _check_step(script, None, kind=kind, message=message, answers=answers, only_if_step=only_if_step,
                         only_if_answer=only_if_answer)
    only_if_step = fields.pop("only_if_step")
    last = db.session.scalar(select(func.max(ChatbotStep.sequence)).where(ChatbotStep.script_id == script.id))
    step = ChatbotStep(script=script, sequence=(last or 0) + 10,
                       only_if_step_id=only_if_step.id if only_if_step else None, **fields)
    db.session.add(step)
    db.session.flush()
    return step


def update_step(step: ChatbotStep, *, kind: str, message: str, answers: str, only_if_step: ChatbotStep | None,
                only_if_answer: str) -> None:
    """Change a step (same checks as create_step); its place stays."""
    fields = _check_step(step.script, step, kind=kind, message=message, answers=answers, only_if_step=only_if_step,
                         only_if_answer=only_if_answer)
    only_if_step = fields.pop("only_if_step")
    for key, value in fields.items():
        setattr(step, key, value)
    step.only_if_step_id = only_if_step.id if only_if_step else None
    db.session.flush()


def move_step(step: ChatbotStep, direction: str) -> bool:
    """One place up or down the script; False at an end. Refused when a condition would then test a
    later step."""
    steps = _swap(list(step.script.steps), step, direction)
    if steps is None:
        return False
    position = {s.id: i for i, s in enumerate(steps)}
    for each in steps:
        if each.only_if_step_id in position and position[each.only_if_step_id] > position[each.id]:
            source = db.session.get(ChatbotStep, each.only_if_step_id)
            raise LivechatSetupError(f"‘{step_label(each)}’ depends on the answer to ‘{step_label(source)}’: "
                                     "it must stay after it.")
    _renumber(steps)
    db.session.flush()
    db.session.expire(step.script, ["steps"])
    return True


def delete_step(step: ChatbotStep) -> int:
    """Remove a step; steps that depended on its answer run always from then on. Returns how many."""
    dependants = _dependants(step)
    for dependant in dependants:
        dependant.only_if_step_id = None
        dependant.only_if_answer = ""
    script = step.script
    script.steps.remove(step)
    db.session.flush()
    return len(dependants)
