"""services/jobs.py on this run's real backend: the in-process thread (SQLite run) or RQ on
Redis executed by a real RQ worker (PostgreSQL run).

Jobs are submitted on commit, never before, and not at all after a rollback; a scheduled job
runs once its time has come, and once only. One test starts a real `flask worker` process.
"""
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Activity, Contact, Notification
from app.models.base import utcnow
from app.services import jobs, realtime
from app.templating import local_today
from tests.conftest import ROOT, make_contact, make_user


def create_contact_job(name: str) -> None:
    """A job with a visible effect: it runs in the worker (thread, RQ work horse or process)."""
    db.session.add(Contact(name=name))
    db.session.commit()


def contacts_named(name: str) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count(Contact.id)).where(Contact.name == name))


@pytest.fixture
def run_due(app, run_jobs):
    """Run every job that is due now, scheduled ones included (RQ: a burst worker with the scheduler)."""
    def run():
        backend = app.extensions["hilo_jobs"]
        if hasattr(backend, "queue"):
            from rq import SimpleWorker

            SimpleWorker([backend.queue], connection=backend.redis).work(burst=True, with_scheduler=True)
            db.session.expire_all()
        else:
            run_jobs()
    return run


def wait_until(moment) -> None:
    """Block until the wall clock reaches `moment` (naive UTC): here time itself is the awaited event."""
    remaining = (moment - utcnow()).total_seconds()
    if remaining > 0:
        threading.Event().wait(remaining)


def test_a_job_runs_only_after_the_commit(run_jobs):
    jobs.enqueue(create_contact_job, "after commit")
    run_jobs()
    assert contacts_named("after commit") == 0  # not even submitted yet
    db.session.commit()
    run_jobs()
    assert contacts_named("after commit") == 1


def test_a_job_enqueued_with_a_rolled_back_change_never_runs(app, run_jobs):
    db.session.add(Contact(name="rolled back change"))
    db.session.flush()
    jobs.enqueue(create_contact_job, "rolled back job")
    db.session.rollback()
    db.session.commit()
    run_jobs()
    assert contacts_named("rolled back job") == 0 and contacts_named("rolled back change") == 0
    backend = app.extensions["hilo_jobs"]
    if hasattr(backend, "queue"):
        assert backend.queue.count == 0 and backend.queue.scheduled_job_registry.count == 0


def test_the_job_sees_what_the_transaction_wrote(run_jobs):
    """Submitted after commit, a worker never looks for a row that is not there yet."""
    contact = make_contact("Seen by the job")
    contact.name = "Renamed before the job"
    jobs.enqueue(create_contact_job, "second")
    db.session.commit()
    run_jobs()
    assert contacts_named("Renamed before the job") == 1 and contacts_named("second") == 1


def test_a_scheduled_job_runs_once_its_time_has_come(app, run_due):
    at = utcnow() + timedelta(seconds=1)
    jobs.enqueue(create_contact_job, "scheduled", at=at)
    db.session.commit()
    backend = app.extensions["hilo_jobs"]
    if hasattr(backend, "queue"):
        assert backend.queue.scheduled_job_registry.count == 1 and backend.queue.count == 0

    run_due()
    if utcnow() < at:  # still early (the check is meaningless on a machine slower than a second)
        assert contacts_named("scheduled") == 0

    wait_until(at)
    run_due()
    assert contacts_named("scheduled") == 1
    run_due()
    assert contacts_named("scheduled") == 1  # once only



def test_a_real_worker_process_sends_a_queued_reminder(app, worker_env):
    """`flask worker --burst` in its own process: runs the job in process, writes the DB, fans out via Redis."""
    from app.jobs.activities import send_reminder_job

    assignee = make_user(name="Bob Agent")
    thread = make_contact("Ada Customer").ensure_thread()
    activity = Activity(thread_id=thread.id, activity_type="call", summary="Call Ada back",
                        due_date=local_today(assignee) - timedelta(days=1), assignee_id=assignee.id)
    db.session.add(activity)
    db.session.commit()
    assignee_id, activity_id = assignee.id, activity.id
    jobs.enqueue(send_reminder_job, activity_id)
    db.session.commit()

    with realtime.subscribe([f"user:{assignee_id}"]) as sub:
        flask_cli = Path(sys.executable).with_name("flask")
        done = subprocess.run([str(flask_cli), "worker", "--burst"], cwd=ROOT, env=worker_env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-3000:]
        bell = sub.get(timeout=10)  # published by the worker process, delivered through Redis

    assert bell is not None and 'id="bell"' in bell and 'data-count="1"' in bell
    db.session.expire_all()
    [note] = db.session.scalars(select(Notification).where(Notification.user_id == assignee_id)).all()
    assert note.kind == "activity" and note.activity_id == activity_id
    assert note.summary.startswith("Reminder: Call Ada back was due yesterday")
    assert db.session.get(Activity, activity_id).reminded_at is not None
    backend = app.extensions["hilo_jobs"]
    assert backend.queue.count == 0 and backend.queue.failed_job_registry.count == 0


def sweep_job() -> None:
    """A periodic job with a visible effect."""
    create_contact_job("swept")


def test_periodic_jobs_are_submitted_on_their_interval_by_one_process_only(app, run_jobs):
    """Two processes' periodic threads (here: two threads) submit a sweep once per interval between them
    (Redis key), or each its own (embedded: one process runs jobs)."""
    backend = app.extensions["hilo_jobs"]
    submitted = threading.Semaphore(0)
    original = backend.submit

    def counting_submit(*args):
        original(*args)
        submitted.release()

    backend.submit = counting_submit
    stop = threading.Event()
    threads = []
    try:
        threads.append(jobs.start_periodic(app, [(sweep_job, 3600)], tick=0.01, stop=stop))
        assert submitted.acquire(timeout=10)
        if hasattr(backend, "queue"):
            threads.append(jobs.start_periodic(app, [(sweep_job, 3600)], tick=0.01, stop=stop))
            assert not submitted.acquire(timeout=0.5)  # the other "process" found the key taken
        run_jobs()
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=5)
        backend.submit = original
    assert contacts_named("swept") == 1


def test_a_claim_is_granted_once_per_period_across_callers(app, monkeypatch):
    assert jobs.claim("unread:7", 0.2) is True
    assert jobs.claim("unread:7", 0.2) is False  # another delivery in the same period
    assert jobs.claim("unread:8", 0.2) is True  # another key
    deadline = time.monotonic() + 5
    while not jobs.claim("unread:7", 0.2):  # free again once the period is over
        assert time.monotonic() < deadline, "the claim never expired"
        time.sleep(0.05)


def test_a_workers_connection_outlasts_its_wait_for_jobs(app):
    """RQ waits up to `dequeue_timeout` for a job; a connection timing out sooner (redis-py's 5 s)
    made an idle worker fail every wait and back off for up to a minute before the next job."""
    backend = app.extensions["hilo_jobs"]
    if not hasattr(backend, "queue"):
        pytest.skip("the embedded run has no RQ worker (the PostgreSQL run covers it)")
    from rq import SimpleWorker

    backend.redis.ping()  # the app's own connection is in use before a worker starts (periodic jobs)
    worker = SimpleWorker([backend.queue], connection=backend.worker_connection())
    pool = worker.connection.connection_pool
    connection = pool.get_connection()
    try:
        assert connection.socket_timeout is None or connection.socket_timeout > worker.dequeue_timeout
    finally:
        pool.release(connection)
