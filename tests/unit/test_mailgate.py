"""services/mailgate.py: every mail of the corpus (tests/mail) goes where corpus.json says."""
import json
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Contact, Follower, InboundMail, MailAlias, Message, MessageRecipient, OutboxMail
from app.services import mailer, mailgate, messaging
from tests.conftest import ROOT, make_contact

pytestmark = pytest.mark.usefixtures("request_ctx")

MAIL = Path(__file__).resolve().parents[1] / "mail"
CORPUS = {entry["file"]: entry for entry in json.loads((MAIL / "corpus.json").read_text(encoding="utf-8"))}


@pytest.fixture
def world(app, users, monkeypatch):
    """hilo.test with aliases support@ and sales@, and two conversations we mailed from:
    <hilo.out1@hilo.test> in T1 and <hilo.out2@hilo.test> in T2, both started by support@."""
    monkeypatch.setitem(app.config, "MAIL_DOMAIN", "hilo.test")
    monkeypatch.setitem(app.config, "MAIL_FROM", "notifications@hilo.test")
    support, sales = MailAlias(local_part="support"), MailAlias(local_part="sales")
    db.session.add_all([support, sales])
    threads = {}
    for n, email in ((1, "first@customer.test"), (2, "second@customer.test")):
        thread = make_contact(f"Customer {n}", email).ensure_thread()
        message = messaging.post_message(thread, users.agent, f"Answer {n}", notify=False)
        message.message_id = f"<hilo.out{n}@hilo.test>"
        outbox = OutboxMail(message_id=f"<hilo.out{n}@hilo.test>", sender="notifications@hilo.test", to=email,
                            subject=f"Answer {n}", body_text="x", chatter_message_id=message.id)
        db.session.add(outbox)
        db.session.flush()
        db.session.add(MessageRecipient(message_id=message.id, address=email, status="sent", outbox_mail_id=outbox.id))
        db.session.add(InboundMail(dedupe_key=f"<start{n}@customer.test>", status="created", alias_id=support.id,
                                   thread_id=thread.id, raw=b"", size=0))
        threads[n] = thread
    db.session.commit()
    monkeypatch.setattr(mailgate, "SUBJECT_RESOLVERS", [lambda ref, mail: threads[1] if ref == "123" else None])
    return SimpleNamespace(threads=threads, aliases={"support": support, "sales": sales})


def stand_in(text: str) -> re.Pattern:
    """`text` as it may sit in a quoted-printable body: a soft line break between any two characters."""
    return re.compile(rb"(?:=\r?\n)?".join(re.escape(ch.encode()) for ch in text))


def load(name: str, world) -> bytes:
    """The fixture with the world's real reply tokens in place of the corpus's stand-ins."""
    raw = (MAIL / name).read_bytes()
    for n, thread in world.threads.items():
        raw = stand_in(f"t{n}-0123456789ab").sub(mailer.thread_token(thread.id).encode(), raw)
        raw = stand_in(f"t{n}-ffffffffffff").sub(f"t{thread.id}-ffffffffffff".encode(), raw)
    return raw


def thread_of(route, world):
    if "message" in route:
        return world.threads[int(route["message"][len("<hilo.out"):-len("@hilo.test>")])]
    if "token" in route:
        return world.threads[int(route["token"][1])]
    return world.threads[1]  # [#123]


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_each_mail_goes_where_the_corpus_says(app, world, name):
    entry = CORPUS[name]
    if entry.get("duplicate_of"):
        assert mailgate.ingest(load(entry["duplicate_of"], world)).status != "duplicate"
        assert mailgate.ingest(load(name, world)).status == "duplicate"
        return
    outcome = mailgate.ingest(load(name, world))
    route = entry["route"]
    expected = {"thread": "routed", "create": "created", "catchall": "catchall", "dsn": "dsn",
                "bounce": "bounced", "unparseable": "unparseable"}[route["to"]]
    assert (outcome.status, outcome.reason) == (expected, outcome.reason), f"{name}: {outcome}"
    if expected == "bounced":  # refused: the sending server is told, nothing is kept
        assert outcome.inbound_id is None and outcome.exit_code == 67
        return
    stored = db.session.get(InboundMail, outcome.inbound_id)
    assert stored is not None and stored.raw == load(name, world)  # kept raw, whatever happened
    if route["to"] == "thread":
        assert outcome.thread_id == thread_of(route, world).id and outcome.reason == route["via"]
    elif route["to"] == "create":
        assert stored.alias_id == world.aliases[route["alias"]].id
        assert outcome.thread_id not in {t.id for t in world.threads.values()}
    elif route["to"] == "catchall":
        assert outcome.reason == route["reason"] and outcome.thread_id is None
    assert outcome.exit_code == (67 if expected == "bounced" else 0)


def test_a_reply_becomes_the_customers_message_and_cc_follows(app, world):
    raw = load("reply_gmail.eml", world)
    outcome = mailgate.ingest(raw)
    message = db.session.scalar(select(Message).where(Message.id == db.session.get(
        InboundMail, outcome.inbound_id).chatter_message_id))
    assert message.kind == "comment" and message.author_contact is not None and message.author_user_id is None
    assert message.thread_id == outcome.thread_id and message.message_id
    followers = db.session.scalars(select(Contact.email).join(Follower, Follower.contact_id == Contact.id)
                                   .where(Follower.thread_id == outcome.thread_id)).all()
    assert message.author_contact.email in followers


def test_a_new_mail_to_an_alias_creates_a_contact_and_keeps_attachments(app, world):
    outcome = mailgate.ingest(load("attachments_rfc2231.eml", world))
    assert outcome.status == "created"
    message = db.session.get(Message, db.session.get(InboundMail, outcome.inbound_id).chatter_message_id)
    names = [a.filename for a in message.attachments]
    assert names == CORPUS["attachments_rfc2231.eml"]["parse"]["attachments"]


def test_an_inline_image_shows_in_the_message_from_its_stored_copy(app, world):
    outcome = mailgate.ingest(load("apple_inline_image.eml", world))
    message = db.session.get(Message, db.session.get(InboundMail, outcome.inbound_id).chatter_message_id)
    [image] = message.attachments
    assert image.content_type == "image/png"
    assert f'src="/attachments/{image.id}"' in message.body_html and "cid:" not in message.body_html


def test_inline_image_links_match_encoded_ids_and_leave_unknown_ones(app):
    image = SimpleNamespace(id=7)
    body = '<img src="cid:part1.A%40host"> <img src="cid:&lt;Other@host&gt;"> <img src="cid:missing">'
    linked = messaging.link_inline_images(body, {"part1.a@host": image, "other@host": SimpleNamespace(id=8)})
    assert linked == '<img src="/attachments/7"> <img src="/attachments/8"> <img src="cid:missing">'


def test_a_bounce_marks_the_recipient_and_tells_the_author(app, world, users):
    assert mailgate.ingest(load("dsn_postfix.eml", world)).status == "dsn"
    recipient = db.session.scalar(select(MessageRecipient).join(OutboxMail).where(
        OutboxMail.message_id == "<hilo.out1@hilo.test>"))
    expected = CORPUS["dsn_postfix.eml"]["parse"]["dsn"]
    if recipient.address.lower() == expected["address"].lower():
        assert recipient.status == "bounced" and expected["status"] in recipient.error


def test_a_delay_warning_is_not_a_bounce(app, world):
    assert mailgate.ingest(load("dsn_delayed.eml", world)).status == "dsn"
    assert db.session.scalar(select(func.count()).where(MessageRecipient.status == "bounced")) == 0


def test_nothing_is_created_for_auto_replies_and_nothing_is_stored_twice(app, world):
    before = db.session.scalar(select(func.count(Contact.id)))
    assert mailgate.ingest(load("auto_vacation_bulk.eml", world)).status == "catchall"
    assert db.session.scalar(select(func.count(Contact.id))) == before  # no contact, no record
    raw = load("plain_text.eml", world)
    first, again = mailgate.ingest(raw), mailgate.ingest(raw)
    assert (first.status, again.status) == ("created", "duplicate")
    assert db.session.scalar(select(func.count(InboundMail.id))) == 2 + 2  # + the world's two
    assert db.session.scalar(select(func.count(Contact.id))) == before + 1


def ingest_cli(app, raw: bytes, *args) -> subprocess.CompletedProcess:
    from tests.conftest import worker_env_for

    return subprocess.run([str(Path(sys.executable).with_name("flask")), "mail", "ingest", *args], input=raw,
                          cwd=ROOT, env=worker_env_for(app), capture_output=True, timeout=60)


def test_the_pipe_exits_as_an_mta_expects(app, world):
    ok = ingest_cli(app, load("plain_text.eml", world))
    assert ok.returncode == 0, ok.stderr
    assert ingest_cli(app, load("plain_text.eml", world)).returncode == 0  # a duplicate is fine
    bounce = ingest_cli(app, load("not_ours.eml", world))
    assert bounce.returncode == 67 and b"Traceback" not in bounce.stderr
    junk = ingest_cli(app, b"\x00\x01 not mail")
    assert junk.returncode == 0 and b"Traceback" not in junk.stderr  # stored raw, flagged
    down = ingest_cli(app, load("plain_text.eml", world), "--recipient", "support@hilo.test")
    assert down.returncode == 0


def test_the_pipe_asks_to_retry_when_the_database_is_down(app, world):
    from tests.conftest import worker_env_for

    env = {**worker_env_for(app), "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"}
    result = subprocess.run([str(Path(sys.executable).with_name("flask")), "mail", "ingest"],
                            input=load("plain_text.eml", world), cwd=ROOT, env=env, capture_output=True, timeout=60)
    assert result.returncode == 75 and b"Traceback" not in result.stderr


def test_a_flood_from_one_sender_stops_at_the_limit_and_is_kept(app, world, monkeypatch):
    monkeypatch.setitem(app.config, "MAIL_SENDER_LIMIT", 3)
    raw = load("plain_text.eml", world)
    statuses = [mailgate.ingest(re.sub(rb"(?im)^(Message-ID:\s*<)", f"\\g<1>flood{n}.".encode(), raw, count=1)).status
                for n in range(5)]
    assert statuses == ["created", "created", "created", "catchall", "catchall"]
    kept = db.session.scalars(select(InboundMail.reason).where(InboundMail.status == "catchall")).all()
    assert kept == ["rate limit", "rate limit"]
    other = mailgate.ingest(load("reply_gmail.eml", world))  # another sender is not held back
    assert other.status == "routed"


def test_an_intake_that_cannot_refuse_keeps_what_would_bounce(app, world, monkeypatch):
    stray = mailgate.ingest(load("not_ours.eml", world), can_refuse=False)  # IMAP: already in our mailbox
    assert (stray.status, stray.exit_code) == ("catchall", 0)
    assert db.session.get(InboundMail, stray.inbound_id).raw == load("not_ours.eml", world)
    monkeypatch.setitem(app.config, "MAIL_MAX_BYTES", 100)
    assert mailgate.ingest(load("plain_text.eml", world)).status == "bounced"
    huge = mailgate.ingest(load("plain_text.eml", world), can_refuse=False)
    assert (huge.status, huge.reason) == ("catchall", "larger than 0 MB")
    assert mailgate.ingest(load("plain_text.eml", world), can_refuse=False).status == "duplicate"


def test_routing_reads_what_it_needs_in_one_query_and_sees_alias_changes_at_once(app, world):
    from sqlalchemy import event, insert

    statements = []
    record = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(db.engine, "before_cursor_execute", record)
    try:
        # Created a moment ago by another process: seen by the next mail.
        db.session.execute(insert(MailAlias).values(local_part="billing", target="contact", active=True))
        db.session.commit()
        statements.clear()
        outcome = mailgate.ingest(load("not_ours.eml", world), ["billing@hilo.test"])
        assert outcome.reason == "alias billing"
        reads = [s for s in statements if "mail_aliases" in s or "inbound_mails.dedupe_key" in s]
        assert len(reads) == 1  # aliases, duplicate, Message-ID and the sender's rate: one query
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    world.aliases["sales"].active = False
    db.session.commit()
    assert mailgate.ingest(load("plain_text.eml", world), ["sales@hilo.test"]).reason == "alias support"
    raw = load("not_ours.eml", world).replace(b"Message-ID: <", b"Message-ID: <again.")
    assert mailgate.ingest(raw, ["sales@hilo.test"]).reason == "unknown-recipient"


def test_a_caught_mail_processed_again_skips_the_sender_limit(app, world, monkeypatch):
    monkeypatch.setitem(app.config, "MAIL_SENDER_LIMIT", 1)
    assert mailgate.ingest(load("plain_text.eml", world)).status == "created"
    caught = mailgate.ingest(load("plain_text.eml", world).replace(b"Message-ID: <", b"Message-ID: <second."))
    assert (caught.status, caught.reason) == ("catchall", "rate limit")
    inbound = db.session.get(InboundMail, caught.inbound_id)
    again = mailgate.reprocess(inbound)
    db.session.commit()
    assert again.status == "created" and inbound.status == "created" and inbound.chatter_message_id
    with pytest.raises(ValueError):
        mailgate.reprocess(inbound)
