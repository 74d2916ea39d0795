"""IMAP polling (services/imap.py) against a real dovecot: what is fetched, once, in order, and
what happens when the server, the database or a second poller gets in the way."""
import logging
import secrets
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from app.extensions import db
from app.jobs import PERIODIC_JOBS, periodic_jobs
from app.jobs.mail import poll_imap_job
from app.models import ImapCursor, InboundMail, MailAlias
from app.models.base import utcnow
from app.services import imap, jobs, mailgate, messaging
from tests.conftest import ROOT, make_contact, worker_env_for

MAIL = Path(__file__).resolve().parents[1] / "mail"


@pytest.fixture(autouse=True)
def request_ctx(app):
    """The gateway renders what a mail makes: the request context a job has."""
    with app.test_request_context(base_url=app.config["BASE_URL"]):
        yield


@pytest.fixture
def world(app, users, monkeypatch):
    """hilo.test with aliases support@ and sales@, and a thread T1 (started by support@) holding
    our mail <hilo.out1@hilo.test>, which reply_gmail.eml answers."""
    monkeypatch.setitem(app.config, "MAIL_DOMAIN", "hilo.test")
    monkeypatch.setitem(app.config, "MAIL_FROM", "notifications@hilo.test")
    support, sales = MailAlias(local_part="support"), MailAlias(local_part="sales")
    db.session.add_all([support, sales])
    thread = make_contact("Customer 1", "first@customer.test").ensure_thread()
    message = messaging.post_message(thread, users.agent, "Answer 1", notify=False)
    message.message_id = "<hilo.out1@hilo.test>"
    db.session.flush()
    db.session.add(InboundMail(dedupe_key="<start1@customer.test>", status="created", alias_id=support.id,
                               thread_id=thread.id, raw=b"", size=0))
    db.session.commit()
    return SimpleNamespace(thread=thread, aliases={"support": support, "sales": sales})


@pytest.fixture
def mailbox(app, dovecot, monkeypatch):
    """An empty mailbox of its own on the test dovecot, and IMAP_URL pointing at its INBOX."""
    user = f"hilo-{secrets.token_hex(4)}"
    monkeypatch.setitem(app.config, "IMAP_URL", dovecot.url(user))
    return SimpleNamespace(user=user, url=dovecot.url(user),
                           deliver=lambda name, **kw: dovecot.append(user, (MAIL / name).read_bytes(), **kw),
                           flags=lambda **kw: dovecot.flags(user, **kw))


def statuses(result) -> dict:
    return {uid: outcome.status for uid, outcome in result.fetched.items()}


def cursor() -> ImapCursor:
    db.session.expire_all()
    return db.session.scalar(select(ImapCursor))


def inbound_count() -> int:
    """Inbound mails stored, read fresh (the world's own conversation start is one)."""
    db.session.expire_all()
    return db.session.scalar(select(func.count(InboundMail.id)))


def test_a_poll_routes_each_new_mail_once_in_order_and_flags_it_seen(app, world, mailbox):
    uids = [mailbox.deliver(name) for name in
            ("plain_text.eml", "reply_gmail.eml", "not_ours.eml", "unknown_recipient.eml")]
    first = imap.poll()
    assert first.error is None and statuses(first) == dict(zip(uids, ["created", "routed", "catchall", "catchall"]))
    assert first.fetched[uids[1]].thread_id == world.thread.id  # the reply joins its thread
    assert first.fetched[uids[2]].reason == "no recipient of ours"  # IMAP cannot refuse: kept
    assert all("\\Seen" in flags for flags in mailbox.flags().values())
    assert (cursor().last_uid, cursor().locked_by) == (uids[-1], None)

    assert imap.poll().fetched == {}  # nothing new
    later = mailbox.deliver("gmail_alternative.eml")
    again = imap.poll()
    assert statuses(again) == {later: "created"} and inbound_count() == 1 + 5


def test_the_uid_decides_what_is_new_not_the_seen_flag(app, world, mailbox, dovecot):
    read = mailbox.deliver("plain_text.eml", flags=r"(\Seen)")  # read in a mail client first
    assert statuses(imap.poll()) == {read: "created"}
    with dovecot.connect(mailbox.user) as conn:  # someone marks it unread again
        conn.select("INBOX")
        conn.uid("STORE", str(read), "-FLAGS", r"(\Seen)")
    assert imap.poll().fetched == {}


def test_a_batch_is_limited_and_the_rest_comes_next_time(app, world, mailbox, monkeypatch):
    monkeypatch.setitem(app.config, "IMAP_BATCH", 2)
    uids = [mailbox.deliver(name) for name in ("plain_text.eml", "html_only.eml", "gmail_alternative.eml")]
    assert list(imap.poll().fetched) == uids[:2]
    assert list(imap.poll().fetched) == uids[2:]


def test_imap_alias_takes_the_mail_that_names_no_address_of_ours(app, world, mailbox, monkeypatch):
    monkeypatch.setitem(app.config, "IMAP_ALIAS", "support")
    stray, to_sales, reply = (mailbox.deliver(name) for name in
                              ("not_ours.eml", "gmail_alternative.eml", "reply_gmail.eml"))
    result = imap.poll()
    assert statuses(result) == {stray: "created", to_sales: "created", reply: "routed"}
    assert result.fetched[stray].reason == "alias support"
    assert result.fetched[to_sales].reason == "alias sales"  # addressed to another alias: that one
    assert result.fetched[reply].thread_id == world.thread.id  # a reply stays a reply


def test_a_renumbered_mailbox_is_read_again_and_duplicates_are_dropped(app, world, mailbox, dovecot, monkeypatch):
    monkeypatch.setitem(app.config, "IMAP_URL", dovecot.url(mailbox.user, "Support"))
    with dovecot.connect(mailbox.user) as conn:
        conn.create("Support")
    dovecot.append(mailbox.user, (MAIL / "plain_text.eml").read_bytes(), folder="Support")
    assert list(statuses(imap.poll()).values()) == ["created"]
    before = cursor().uidvalidity
    with dovecot.connect(mailbox.user) as conn:  # the folder is made anew: new UIDVALIDITY, UIDs from 1
        conn.delete("Support")
        conn.create("Support")
    for name in ("plain_text.eml", "html_only.eml"):
        dovecot.append(mailbox.user, (MAIL / name).read_bytes(), folder="Support")
    assert statuses(imap.poll()) == {1: "duplicate", 2: "created"}
    assert cursor().uidvalidity != before and cursor().last_uid == 2


def test_a_database_failure_mid_batch_loses_nothing(app, world, mailbox, monkeypatch, caplog):
    uids = [mailbox.deliver(name) for name in ("plain_text.eml", "html_only.eml", "gmail_alternative.eml")]
    real, calls = mailgate.ingest, []

    def failing_second(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise OperationalError("INSERT INTO inbound_mails", {}, Exception("server closed the connection"))
        return real(*args, **kwargs)

    monkeypatch.setattr(mailgate, "ingest", failing_second)
    with caplog.at_level(logging.ERROR, logger="app.services.imap"):
        broken = imap.poll()
    assert list(broken.fetched) == uids[:1] and "database is unreachable" in broken.error
    assert "database is unreachable" in caplog.text
    assert cursor().last_uid == uids[0] and cursor().locked_by is None
    flags = mailbox.flags()
    assert "\\Seen" in flags[uids[0]] and "\\Seen" not in flags[uids[1]] + flags[uids[2]]

    monkeypatch.setattr(mailgate, "ingest", real)
    assert statuses(imap.poll()) == {uids[1]: "created", uids[2]: "created"}
    assert inbound_count() == 1 + 3


def test_a_crash_between_ingest_and_cursor_fetches_the_mail_again_harmlessly(app, world, mailbox, monkeypatch):
    uid = mailbox.deliver("plain_text.eml")
    real = imap._move_cursor

    def crash_on_advance(key, lease, **values):
        if "uidvalidity" not in values:
            raise OperationalError("UPDATE imap_cursors", {}, Exception("server closed the connection"))
        real(key, lease, **values)

    monkeypatch.setattr(imap, "_move_cursor", crash_on_advance)
    assert statuses(imap.poll()) == {uid: "created"}  # stored, but the cursor did not move
    assert cursor().last_uid == 0 and "\\Seen" not in mailbox.flags()[uid]
    monkeypatch.setattr(imap, "_move_cursor", real)
    assert statuses(imap.poll()) == {uid: "duplicate"}
    assert cursor().last_uid == uid and inbound_count() == 1 + 1


def test_a_wrong_password_or_no_server_is_logged_not_raised(app, world, mailbox, dovecot, caplog):
    mailbox.deliver("plain_text.eml")
    with caplog.at_level(logging.ERROR, logger="app.services.imap"):
        refused = imap.poll(dovecot.url(mailbox.user, password="wrong"))
        away = imap.poll(f"imap://{mailbox.user}:x@127.0.0.1:1/INBOX")
    assert "AUTHENTICATIONFAILED" in refused.error and "ConnectionRefusedError" in away.error
    assert "AUTHENTICATIONFAILED" in caplog.text and "wrong" not in caplog.text  # no password in the log
    assert refused.fetched == {} and inbound_count() == 1
    assert len(imap.poll().fetched) == 1  # the right settings work at once: nothing stayed locked


def test_a_second_poller_is_kept_out_while_one_reads_the_mailbox(app, world, mailbox, monkeypatch):
    uid = mailbox.deliver("plain_text.eml")
    inside, release, results = threading.Event(), threading.Event(), []
    real = mailgate.ingest

    def slow_ingest(*args, **kwargs):
        inside.set()
        assert release.wait(timeout=30)
        return real(*args, **kwargs)

    def first_poller():  # another worker: its own thread, app context and database session
        with app.test_request_context(base_url=app.config["BASE_URL"]):
            results.append(imap.poll())

    monkeypatch.setattr(mailgate, "ingest", slow_ingest)
    thread = threading.Thread(target=first_poller)
    thread.start()
    try:
        assert inside.wait(timeout=30), "the first poll never reached the mail"
        second = imap.poll()
        assert second.busy and second.fetched == {} and second.error is None
    finally:
        release.set()
        thread.join(timeout=30)
    assert statuses(results[0]) == {uid: "created"} and inbound_count() == 1 + 1


def test_a_dead_pollers_lease_runs_out(app, world, mailbox):
    uid = mailbox.deliver("plain_text.eml")
    key = imap.Mailbox.from_url(mailbox.url).key
    db.session.add(ImapCursor(mailbox=key, locked_by="dead", locked_until=utcnow() + imap.LEASE))
    db.session.commit()
    assert imap.poll().busy
    cursor().locked_until = utcnow() - imap.LEASE / 10
    db.session.commit()
    assert statuses(imap.poll()) == {uid: "created"}


@pytest.mark.parametrize("url", ["", "http://host/INBOX", "imap://host/INBOX", "imap://u:p@host:port/INBOX"])
def test_an_unusable_imap_url_says_how_it_should_look(url):
    with pytest.raises(imap.ImapError):
        imap.Mailbox.from_url(url)


def test_imap_url_parts_are_read_percent_decoded():
    box = imap.Mailbox.from_url("imaps://help%40example.com:p%40ss%3Aword@Mail.Example.com/Support%20Desk?timeout=5")
    assert (box.user, box.password, box.host, box.port, box.folder, box.timeout) == (
        "help@example.com", "p@ss:word", "mail.example.com", 993, "Support Desk", 5.0)
    assert box.key == "help@example.com@mail.example.com:993/Support Desk" and "ss:word" not in box.key
    assert imap.Mailbox.from_url("imap+starttls://u:p@host").folder == "INBOX"


def test_the_worker_polls_only_when_imap_url_is_set(app, monkeypatch):
    monkeypatch.setitem(app.config, "IMAP_URL", None)
    assert periodic_jobs(app.config) == PERIODIC_JOBS
    monkeypatch.setitem(app.config, "IMAP_URL", "imap://u:p@host/INBOX")
    monkeypatch.setitem(app.config, "IMAP_POLL_SECONDS", 42)
    assert periodic_jobs(app.config) == [*PERIODIC_JOBS, (poll_imap_job, 42)]


def wait_for_inbound(count: int, worker=None) -> None:
    deadline = time.monotonic() + 60
    while inbound_count() < count:
        assert worker is None or worker.poll() is None, worker.stderr.read()
        assert time.monotonic() < deadline, "the mail never landed"
        time.sleep(0.05)


def test_the_web_process_polls_on_its_timer_in_the_embedded_mode(app, world, mailbox):
    if app.config["REDIS_URL"]:
        pytest.skip("with Redis the worker polls: test_a_real_worker_polls_on_its_timer_and_the_mail_lands")
    mailbox.deliver("plain_text.eml")
    stop = threading.Event()
    timer = jobs.start_periodic(app, tick=0.05, stop=stop)  # as wsgi.py starts it
    try:
        wait_for_inbound(1 + 1)
    finally:
        stop.set()
        timer.join(timeout=10)


# ---- as processes: `flask mail poll`, and a real worker --------------------------------------

def flask(app, *args, **env) -> subprocess.CompletedProcess:
    return subprocess.run([str(Path(sys.executable).with_name("flask")), *args], cwd=ROOT,
                          env={**worker_env_for(app), **env}, capture_output=True, text=True, timeout=60)


def test_flask_mail_poll_prints_what_it_fetched_and_exits_75_when_something_is_away(app, world, mailbox):
    uid = mailbox.deliver("plain_text.eml")
    done = flask(app, "mail", "poll", IMAP_URL=mailbox.url)
    assert done.returncode == 0, done.stderr
    assert f"UID {uid}: created (alias support)" in done.stdout and "1 mail(s) fetched" in done.stdout
    no_server = flask(app, "mail", "poll", IMAP_URL=f"imap://{mailbox.user}:x@127.0.0.1:1/INBOX")
    no_database = flask(app, "mail", "poll", IMAP_URL=mailbox.url, DATABASE_URL="postgresql://nobody@127.0.0.1:1/none")
    for result in (no_server, no_database):
        assert result.returncode == 75 and "try again later" in result.stderr and "Traceback" not in result.stderr


def test_a_real_worker_polls_on_its_timer_and_the_mail_lands(app, world, mailbox, worker_env):
    mailbox.deliver("plain_text.eml")
    # A queue of its own: a worker of another test run on this Redis must not take the poll job.
    env = {**worker_env, "IMAP_URL": mailbox.url, "RQ_QUEUE": f"hilo-imap-{secrets.token_hex(3)}"}
    worker = subprocess.Popen([str(Path(sys.executable).with_name("flask")), "worker"], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_inbound(1 + 1, worker)  # its periodic thread submits the first poll at start
    finally:
        worker.terminate()
        worker.wait(timeout=15)
    assert db.session.scalar(select(InboundMail.status).order_by(InboundMail.id.desc()).limit(1)) == "created"
    assert "\\Seen" in next(iter(mailbox.flags().values()))
