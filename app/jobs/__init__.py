"""RQ job functions: thin wrappers over services that take ids, commit, and log failures.

`PERIODIC_JOBS` lists the idempotent sweeps the worker should run on a timer
(`(job function, interval in seconds)`); a restart or a lost queue loses nothing
because each sweep finds its own work.
"""
from app.jobs.activities import sweep_reminders_job
from app.jobs.livechat import expire_idle_chats_job
from app.jobs.mail import poll_imap_job, sweep_mail_job
from app.jobs.messages import sweep_undelivered_job
from app.jobs.sla import sweep_sla_job

PERIODIC_JOBS = [
    (sweep_reminders_job, 300),
    (sweep_undelivered_job, 60),
    (sweep_mail_job, 60),
    (sweep_sla_job, 60),
    (expire_idle_chats_job, 300),
]


def periodic_jobs(config) -> list:
    """PERIODIC_JOBS, and the IMAP poll every IMAP_POLL_SECONDS when IMAP_URL is set."""
    if not config.get("IMAP_URL"):
        return PERIODIC_JOBS
    return [*PERIODIC_JOBS, (poll_imap_job, config["IMAP_POLL_SECONDS"])]
