"""Sending mail with a real `flask worker` process, killed in the middle of a batch."""
import os
import signal
import subprocess
import sys
from collections import Counter
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

from app.extensions import db
from app.models import OutboxMail
from app.services import mailer
from tests.conftest import ROOT

BATCH = 60
KILLED_AT = 20  # the worker dies while the SMTP server holds its answer to the 21st mail


def worker(env, *args) -> subprocess.Popen:
    flask_cli = Path(sys.executable).with_name("flask")
    # Its own process group: RQ's scheduler runs in a child process, and a killed worker is
    # the whole group (as a container or systemd unit is killed).
    return subprocess.Popen([str(flask_cli), "worker", *args], cwd=ROOT, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def test_killing_the_worker_mid_batch_loses_no_mail_and_sends_none_twice(app, worker_env, smtp_server,
                                                                         monkeypatch):
    env = {**worker_env, "SMTP_URL": smtp_server.url}
    with app.test_request_context(base_url=app.config["BASE_URL"]):
        for n in range(BATCH):
            mailer.send_mail(f"customer{n}@customer.test", f"Mail {n}", "body")
        db.session.commit()  # 60 jobs on the queue

    smtp_server.hold_at = KILLED_AT
    first = worker(env)
    try:
        assert smtp_server.holding.wait(timeout=60), "the worker never reached the held mail"
        os.killpg(first.pid, signal.SIGKILL)  # no goodbye: mid-send, with a mail claimed
        first.wait(timeout=10)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
    smtp_server.release.set()

    db.session.expire_all()
    states = dict(db.session.execute(select(OutboxMail.status, func.count()).group_by(OutboxMail.status)).all())
    assert states == {"sent": KILLED_AT, "sending": 1, "queued": BATCH - KILLED_AT - 1}

    # The sweep finds the mail the dead worker held (here at once, instead of after 10 minutes).
    monkeypatch.setattr(mailer, "CLAIM_TIMEOUT", timedelta(0))
    with app.test_request_context(base_url=app.config["BASE_URL"]):
        assert mailer.sweep() == 1
    second = worker(env, "--burst")
    assert second.wait(timeout=120) == 0, second.stderr.read()

    db.session.expire_all()
    assert db.session.scalars(select(OutboxMail.status).distinct()).all() == ["sent"]
    delivered = Counter(mail["message"]["Message-ID"] for mail in smtp_server.wait_for(BATCH))
    assert len(delivered) == BATCH and max(delivered.values()) == 1
    assert set(delivered) == set(db.session.scalars(select(OutboxMail.message_id)))
