"""SLA deadlines passing with real background workers: a `flask worker` killed while they pass
(RQ + Redis), and the embedded job thread of the web process (SQLite, no Redis)."""
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.jobs.sla import sweep_sla_job
from app.models import Message, Notification, SlaPolicy, TicketSla
from app.models.base import utcnow
from app.services import helpdesk, jobs
from tests.conftest import ROOT, make_contact

TICKETS = 6
SECOND = 1 / 3600  # an hour's fraction: targets of a few seconds


def worker(env) -> subprocess.Popen:
    flask_cli = Path(sys.executable).with_name("flask")
    # Its own process group: RQ's scheduler runs in a child process, and a killed worker is
    # the whole group (as a container or systemd unit is killed).
    return subprocess.Popen([str(flask_cli), "worker"], cwd=ROOT, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def failed_count() -> int:
    db.session.rollback()  # a fresh snapshot of what the worker committed
    return db.session.scalar(select(func.count()).select_from(TicketSla).where(TicketSla.status == "failed"))


def wait_until(condition, timeout: float, what: str) -> None:
    """Poll the database (the worker is another process: there is no event to wait on)."""
    limit = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < limit, f"timed out waiting for {what}"
        time.sleep(0.2)


@pytest.fixture
def tickets(app, users):
    """Tickets whose first-reply deadlines fall 2, 3, … seconds from now (one policy each)."""
    with app.test_request_context(base_url=app.config["BASE_URL"]):
        team = helpdesk.create_team("Care", members=[users.agent], leads=[users.agent2], use_sla=True)
        created = []
        for n in range(TICKETS):
            customer = make_contact(f"Customer {n}")
            db.session.add(SlaPolicy(team=team, name=f"Tier {n}", customer=customer,
                                     first_reply_hours=(2 + n) * SECOND))
            created.append(helpdesk.create_ticket(team, f"Ticket {n}", customer=customer, assignee=users.agent))
        db.session.commit()  # the deadline jobs are planned now
    return created


def assert_each_failure_told_once(tickets, users):
    db.session.rollback()
    for ticket in tickets:
        lines = db.session.scalars(select(Message.body_html).where(
            Message.thread_id == ticket.thread.id, Message.kind == "notification",
            Message.body_html.like("%target missed%"))).all()
        assert len(lines) == 1, (ticket, lines)
    for user in (users.agent, users.agent2):
        summaries = db.session.scalars(select(Notification.summary).where(Notification.user_id == user.id)).all()
        assert sorted(summaries) == sorted(f"SLA “Tier {n}”: first reply target missed on {t.display_name}"
                                           for n, t in enumerate(tickets))


def test_killing_the_worker_while_deadlines_pass_loses_no_breach_and_tells_none_twice(app, worker_env, users,
                                                                                     tickets):
    first = worker(worker_env)
    try:
        wait_until(lambda: failed_count() >= 1, 30, "the first breach")
        os.killpg(first.pid, signal.SIGKILL)  # no goodbye: its scheduler lock and sweep key stay behind
        first.wait(timeout=10)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
    missed_while_dead = TICKETS - failed_count()
    assert missed_while_dead > 0, "every deadline passed before the kill: the test proves nothing"
    latest = max(db.session.scalars(select(TicketSla.deadline)))
    time.sleep(max(0.0, (latest - utcnow()).total_seconds()))  # the rest pass with no worker alive

    second = worker(worker_env)
    try:
        # The dead worker's locks expire within about a minute; then the new one's scheduler
        # moves the planned jobs, and its sweep finds any job the dead one had taken.
        wait_until(lambda: failed_count() == TICKETS, 120, "every breach")
    finally:
        os.killpg(second.pid, signal.SIGTERM)
        second.wait(timeout=30)
    assert_each_failure_told_once(tickets, users)


def test_the_embedded_job_thread_records_a_breach_at_its_deadline(app, users, tickets):
    backend = app.extensions["hilo_jobs"]
    if not hasattr(backend, "wait_idle"):
        pytest.skip("with Redis, jobs run in `flask worker` (the test above)")
    latest = max(db.session.scalars(select(TicketSla.deadline)))
    time.sleep(max(0.0, (latest - utcnow() + timedelta(seconds=1.2)).total_seconds()))
    assert backend.wait_idle(timeout=10)
    assert failed_count() == TICKETS
    assert_each_failure_told_once(tickets, users)


def test_the_embedded_sweep_records_a_breach_whose_job_was_lost(app, users, tickets):
    backend = app.extensions["hilo_jobs"]
    if not hasattr(backend, "wait_idle"):
        pytest.skip("with Redis, jobs run in `flask worker` (the test above)")
    with backend._cond:
        backend._heap.clear()  # the web process restarted: the planned jobs are gone
    latest = max(db.session.scalars(select(TicketSla.deadline)))
    time.sleep(max(0.0, (latest - utcnow()).total_seconds()))
    assert failed_count() == 0
    stop = threading.Event()
    jobs.start_periodic(app, jobs=[(sweep_sla_job, 60)], tick=0.05, stop=stop)
    try:
        wait_until(lambda: failed_count() == TICKETS and backend.wait_idle(timeout=5), 20, "the sweep")
    finally:
        stop.set()
    assert_each_failure_told_once(tickets, users)
