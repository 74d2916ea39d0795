"""The help center and the website ticket form (SPEC §6.1–§6.2).

A team's form is public when the team is active and `use_website_form` is on. Its fields are the
fixed four (name, email, subject, description), attachments, and the admin's `FormField` rows;
`submit` checks everything before writing anything and opens the ticket as the customer.
FAQ articles and side texts are Markdown rendered without raw HTML, then sanitised again.
"""
import re
from dataclasses import dataclass, field
from functools import lru_cache
from urllib.parse import urlsplit

from flask import current_app, render_template
from markdown_it import MarkdownIt
from markupsafe import Markup
from sqlalchemy import func, or_, select

from app.extensions import db
from app.models import FaqArticle, FormField, Tag, Team, Ticket, TicketType
from app.models.base import contains_pattern
from app.models.customers import FIELD_KINDS, FIELD_TARGETS
from app.models.helpdesk import PRIORITIES
from app.services import attachments as attachment_store
from app.services import contacts, customer_links, helpdesk, mailer, messaging
from app.services.sanitize import clean_html

MAX_NAME, MAX_SUBJECT, MAX_DESCRIPTION, MAX_ANSWER = 160, 200, 20_000, 500
FAQ_PAGE = 50
_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
_PHONE = re.compile(r"^\+?[0-9 ().\-/]{5,30}$")
_KEY = re.compile(r"^[a-z][a-z0-9_]{0,39}$")

# What a customer may attach: documents, images, archives, mail. Executable or active content
# (pages, scripts, SVG, programs) is refused; an image must also look like one.
ALLOWED_EXTENSIONS = frozenset({
    "pdf", "txt", "csv", "log", "md", "rtf", "odt", "ods", "odp", "doc", "docx", "xls", "xlsx", "ppt", "pptx",
    "png", "jpg", "jpeg", "gif", "webp", "heic", "zip", "gz", "7z", "eml", "msg", "json", "xml",
})
RASTER_EXTENSIONS = frozenset({"png", "jpg", "jpeg", "gif", "webp"})


class FormErrors(ValueError):
    """Field errors of a submission: {input name: message}; nothing was written."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(errors.values()))
        self.errors = errors


# ---- reading -------------------------------------------------------------------------------------

def render_markdown(text: str) -> Markup:
    """Markdown without raw HTML (it shows as text), links checked, output sanitised."""
    return Markup(clean_html(_markdown.render(text or "")))


def published_teams() -> list[Team]:
    return list(db.session.scalars(select(Team).where(Team.active.is_(True), Team.use_website_form.is_(True))
                                   .order_by(Team.name)))


def published_team(slug: str) -> Team | None:
    return db.session.scalar(select(Team).where(Team.slug == slug, Team.active.is_(True),
                                                Team.use_website_form.is_(True)))


def faq_articles(teams: list[Team], query: str = "") -> list[FaqArticle]:
    """Published articles of these teams, matching every word of `query` in title or body."""
    if not teams:
        return []
    stmt = (select(FaqArticle).where(FaqArticle.team_id.in_([t.id for t in teams]), FaqArticle.published.is_(True))
            .order_by(FaqArticle.team_id, FaqArticle.sequence, FaqArticle.id).limit(FAQ_PAGE))
    for word in (query or "").split()[:8]:
        pattern = contains_pattern(word.lower()[:60])
        stmt = stmt.where(or_(func.lower(FaqArticle.title).like(pattern, escape="\\"),
                              func.lower(FaqArticle.body).like(pattern, escape="\\")))
    return list(db.session.scalars(stmt))


def published_article(team: Team, article_id: int) -> FaqArticle | None:
    article = db.session.get(FaqArticle, article_id)
    return article if article is not None and article.team_id == team.id and article.published else None


def visible_fields(team: Team) -> list[FormField]:
    return [f for f in team.form_fields if f.visible]


def excerpt(article: FaqArticle, length: int = 180) -> str:
    """The answer's first words as plain text (the template escapes it)."""
    return _plain_start(article.body or "", length)


@lru_cache(maxsize=4096)
def _plain_start(body: str, length: int) -> str:
    """The start of the Markdown rendered and the tags dropped (raw HTML is escaped by the
    renderer, so nothing here is markup). Cached by text: a list of answers renders each once."""
    text = Markup(_markdown.render(body[:4 * length])).striptags()
    return text if len(text) <= length else text[:length].rsplit(" ", 1)[0] + "…"


# ---- checking a submission -------------------------------------------------------------------------

@dataclass
class Submission:
    name: str = ""
    email: str = ""
    subject: str = ""
    description: str = ""
    answers: dict = field(default_factory=dict)  # FormField.key -> cleaned value
    files: list = field(default_factory=list)


def _one_line(value) -> str:
    return " ".join(str(value or "").split())


def _check_answer(spec: FormField, raw: str) -> tuple[str, str | None]:
    """(cleaned value, error or None) for one admin-defined field."""
    value = _one_line(raw)[:MAX_ANSWER]
    if not value:
        return "", (f"{spec.label} is required." if spec.required else None)
    if spec.kind == "email":
        try:
            return contacts.normalize_address(value), None
        except contacts.AddressError:
            return value, f"{spec.label}: enter an email address like name@example.com."
    if spec.kind == "phone":
        if not _PHONE.match(value) or sum(ch.isdigit() for ch in value) < 5:
            return value, f"{spec.label}: enter a phone number (digits, spaces, + - ( ) only)."
    if spec.kind == "url":
        parts = urlsplit(value if "://" in value else f"https://{value}")
        if parts.scheme not in ("http", "https") or "." not in (parts.hostname or ""):
            return value, f"{spec.label}: enter a web address like https://example.com."
        value = parts.geturl()
    if spec.kind == "select" and value not in spec.choice_list:
        return value, f"{spec.label}: pick one of the choices."
    return value, None


def _extension(filename: str) -> str:
    name = attachment_store.display_name(filename)
    return name.rsplit(".", 1)[-1].lower() if "." in name else ""


def check_files(files) -> list[str]:
    """Problems with the customer's files: count, size, type (an image must be one)."""
    config = current_app.config
    files = [f for f in files if f and getattr(f, "filename", "")]
    problems = []
    if len(files) > config["SUPPORT_MAX_ATTACHMENTS"]:
        problems.append(f"Attach at most {config['SUPPORT_MAX_ATTACHMENTS']} files.")
    limit = config["SUPPORT_MAX_ATTACHMENT_BYTES"]
    for upload in files:
        name = attachment_store.display_name(upload.filename)
        ext = _extension(upload.filename)
        size = attachment_store.file_size(upload)
        if ext not in ALLOWED_EXTENSIONS:
            problems.append(f"“{name}”: this type of file cannot be sent (documents, images, archives and mail can).")
        elif size == 0:
            problems.append(f"“{name}” is empty.")
        elif size > limit:
            problems.append(f"“{name}” is larger than {attachment_store.size_label(limit)}.")
        elif ext in RASTER_EXTENSIONS:
            head = upload.stream.read(16)
            upload.stream.seek(0)
            if attachment_store.sniff_raster(head) is None:
                problems.append(f"“{name}” is not the image its name says.")
    return problems


def check_submission(team: Team, form, files=()) -> Submission:
    """The cleaned submission, or FormErrors naming each bad field (the form's input names)."""
    errors: dict[str, str] = {}
    sub = Submission(name=_one_line(form.get("name"))[:MAX_NAME], subject=_one_line(form.get("subject")),
                     description=(form.get("description") or "").replace("\r\n", "\n").strip())
    if not sub.name:
        errors["name"] = "Tell us your name."
    raw_email = _one_line(form.get("email"))
    if not raw_email:
        errors["email"] = "Enter your email address, so we can answer you."
    else:
        try:
            sub.email = contacts.normalize_address(raw_email)
        except contacts.AddressError:
            errors["email"] = "Enter an email address like name@example.com."
    if not sub.subject:
        errors["subject"] = "Give your request a subject."
    elif len(sub.subject) > MAX_SUBJECT:
        errors["subject"] = f"Keep the subject under {MAX_SUBJECT} characters."
    if not sub.description:
        errors["description"] = "Describe what you need."
    elif len(sub.description) > MAX_DESCRIPTION:
        errors["description"] = f"Keep the description under {MAX_DESCRIPTION:,} characters (attach a file for more)."
    for spec in visible_fields(team):
        value, error = _check_answer(spec, form.get(f"f_{spec.key}", ""))
        sub.answers[spec.key] = value
        if error:
            errors[f"f_{spec.key}"] = error
    sub.files = [f for f in files if f and getattr(f, "filename", "")]
    problems = check_files(sub.files)
    if problems:
        errors["attachments"] = " ".join(problems)
    if errors:
        raise FormErrors(errors)
    return sub


# ---- opening the ticket ----------------------------------------------------------------------------

def _priority_of(value: str) -> int | None:
    if value.isdigit() and int(value) in PRIORITIES:
        return int(value)
    labels = {label.lower(): level for level, label in PRIORITIES.items()}
    return labels.get(value.lower())


def _mapped(team: Team, sub: Submission) -> tuple[dict, dict]:
    """(ticket field values, extra data {label: value}) from the answers, per field target."""
    values: dict = {"priority": 0, "ticket_type": None, "tags": [], "phone": "", "company": ""}
    extra: dict = {}
    for spec in visible_fields(team):
        answer = sub.answers.get(spec.key, "")
        if not answer:
            continue
        used = False
        if spec.target == "priority" and (level := _priority_of(answer)) is not None:
            values["priority"], used = level, True
        elif spec.target == "type":
            kind = db.session.scalar(select(TicketType).where(func.lower(TicketType.name) == answer.lower()))
            if kind is not None:
                values["ticket_type"], used = kind, True
        elif spec.target == "tags":
            # Only tags the team already uses: a public form never creates tags.
            names = [n.strip().lower() for n in answer.split(",") if n.strip()]
            found = list(db.session.scalars(select(Tag).where(func.lower(Tag.name).in_(names)))) if names else []
            values["tags"], used = found, bool(found)
        elif spec.target == "customer_phone":
            values["phone"], used = answer[:40], True
        elif spec.target == "customer_company":
            values["company"], used = answer[:160], True
        if not used or spec.target == "extra":
            extra[spec.label] = answer
    return values, extra


def submit(team: Team, sub: Submission) -> Ticket:
    """Open the ticket as the customer (assignment and SLA apply) and queue the receipt; not committed."""
    customer = contacts.for_address(sub.name, sub.email)
    values, extra = _mapped(team, sub)
    if values["phone"] and not customer.phone:
        customer.phone = values["phone"]
    if values["company"] and not customer.company:
        customer.company = values["company"]
    ticket = helpdesk.create_ticket(team, sub.subject, description=sub.description, customer=customer,
                                    priority=values["priority"], ticket_type=values["ticket_type"],
                                    tags=values["tags"], source="web")
    ticket.extra_data = extra
    if sub.files:
        messaging.post_message(ticket.ensure_thread(), None, "Files sent with the request.", files=sub.files,
                               author_contact=customer, notify=False)
    send_receipt(ticket)
    return ticket


def send_receipt(ticket: Ticket):
    """Mail the customer their reference and the ticket's access link; replies land in its thread."""
    context = {"ticket": ticket, "link": customer_links.ticket_url(ticket),
               "company": current_app.config["COMPANY_NAME"]}
    return mailer.send_mail(
        ticket.customer.email, f"[{ticket.ref}] {ticket.title}",
        render_template("customer/mail/receipt.txt", **context),
        render_template("customer/mail/receipt.html", **context),
        kind="receipt", thread_id=ticket.ensure_thread().id, auto=True)


# ---- the admin side: fields and articles ------------------------------------------------------------

def check_field_values(team: Team, *, key: str, label: str, kind: str, target: str, choices: str,
                       editing: FormField | None = None) -> dict[str, str]:
    """Errors of a field definition, {form input: message}."""
    errors = {}
    if not _KEY.match(key or ""):
        errors["key"] = "Use lower-case letters, digits and _ (starting with a letter), up to 40."
    elif any(f.key == key and f is not editing for f in team.form_fields):
        errors["key"] = "Another field of this form has that name."
    if not (label or "").strip():
        errors["label"] = "A field needs a label."
    if kind not in FIELD_KINDS:
        errors["kind"] = "Pick a type."
    if target not in FIELD_TARGETS:
        errors["target"] = "Pick where the answer goes."
    if kind == "select" and not [c for c in (choices or "").splitlines() if c.strip()]:
        errors["choices"] = "A choice list needs at least one choice (one per line)."
    return errors


def save_field(team: Team, values: dict, editing: FormField | None = None) -> FormField:
    """Add or change one extra field of the team's form; FormErrors when a rule is broken. Not committed."""
    values = {**values, "key": (values.get("key") or "").strip().lower(), "choices": values.get("choices") or ""}
    errors = check_field_values(team, key=values["key"], label=values.get("label", ""), kind=values.get("kind", ""),
                                target=values.get("target", ""), choices=values["choices"], editing=editing)
    if errors:
        raise FormErrors(errors)
    spec = editing or FormField(team=team, sequence=max((f.sequence for f in team.form_fields), default=0) + 10)
    for name in ("key", "label", "kind", "placeholder", "help_text", "default", "choices", "target"):
        setattr(spec, name, (values.get(name) or "").strip())
    spec.required, spec.visible = bool(values.get("required")), bool(values.get("visible"))
    db.session.add(spec)
    db.session.flush()
    return spec


def move_field(spec: FormField, direction: str) -> None:
    """One place up or down in the form (sequences renumbered so they stay distinct)."""
    fields = list(spec.team.form_fields)
    index = fields.index(spec)
    other = index - 1 if direction == "up" else index + 1
    if 0 <= other < len(fields):
        fields[index], fields[other] = fields[other], fields[index]
    for position, item in enumerate(fields):
        item.sequence = (position + 1) * 10
    db.session.flush()
    db.session.expire(spec.team, ["form_fields"])


def save_article(team: Team, *, title: str, body: str, sequence: int | None, published: bool,
                 editing: FaqArticle | None = None) -> FaqArticle:
    title = " ".join((title or "").split())
    if not title:
        raise FormErrors({"title": "An answer needs a title."})
    article = editing or FaqArticle(team_id=team.id)
    article.title, article.body, article.published = title[:200], (body or "").strip(), bool(published)
    article.sequence = sequence if sequence is not None else article.sequence or 10
    db.session.add(article)
    db.session.flush()
    return article


def team_articles(team: Team) -> list[FaqArticle]:
    return list(db.session.scalars(select(FaqArticle).where(FaqArticle.team_id == team.id)
                                   .order_by(FaqArticle.sequence, FaqArticle.id)))
