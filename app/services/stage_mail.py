"""The email a stage sends to the customer when a ticket enters it (SPEC §4.2).

Admins write the subject and body as plain text with a few placeholders such as
``{{ticket.ref}}``. This is deliberately not a template language: a tiny substitution over a
whitelist, so nothing an admin types is ever evaluated (``{{ ''.__class__ }}`` stays text). The
body is escaped after substitution, so neither the template nor a customer's name can add markup.

The mail goes out as a message in the ticket's thread, written by the system: it is threaded
with the conversation, visible to agents, and delivered to the customer like any reply.
Nothing here commits.
"""
import re

from app.services import messaging

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_.]*)\s*\}\}")
PLACEHOLDERS = {
    "ticket.ref": "the ticket's reference, e.g. #42",
    "ticket.title": "the ticket's title",
    "customer.name": "the customer's name",
    "team.name": "the team's name",
    "stage.name": "the stage's name",
}


def unknown_placeholders(text: str) -> list[str]:
    """The `{{…}}` names in `text` that are not placeholders, in order of appearance."""
    return list(dict.fromkeys(name for name in PLACEHOLDER.findall(text or "") if name not in PLACEHOLDERS))


def render(text: str, values: dict[str, str]) -> str:
    """`text` with each known placeholder replaced by its value; anything else stays as typed."""
    return PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text or "")


def values_for(ticket, stage) -> dict[str, str]:
    """The placeholders' values for `ticket` entering `stage` (plain text, not yet escaped)."""
    return {
        "ticket.ref": ticket.ref,
        "ticket.title": ticket.title,
        "customer.name": ticket.customer.name if ticket.customer else "",
        "team.name": ticket.team.name,
        "stage.name": stage.name,
    }


def send_on_entry(ticket, stage):
    """Post the stage's email in the ticket's thread when the stage has one and the customer an
    address; returns the message, or None when nothing is sent."""
    if not (stage.mail_body or "").strip():
        return None
    customer = ticket.customer
    if customer is None or not customer.email:
        return None
    thread = ticket.ensure_thread()
    messaging.follow(thread, contact=customer)  # a customer who unfollowed still hears of it
    values = values_for(ticket, stage)
    subject = " ".join(render(stage.mail_subject, values).split())[:255] or None
    # Plain text in, escaped by text_to_html inside post_message: no markup can come through.
    return messaging.post_message(thread, None, render(stage.mail_body, values), kind="comment",
                                  subject=subject)
