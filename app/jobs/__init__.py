"""RQ job functions: thin wrappers over services that take ids, commit, and log failures.

`PERIODIC_JOBS` lists the idempotent sweeps the worker should run on a timer
(`(job function, interval in seconds)`); a restart or a lost queue loses nothing
because each sweep finds its own work.
"""
from app.jobs.activities import sweep_reminders_job
from app.jobs.mail import sweep_mail_job
from app.jobs.messages import sweep_undelivered_job

PERIODIC_JOBS = [
    (sweep_reminders_job, 300),
    (sweep_undelivered_job, 60),
    (sweep_mail_job, 60),
]
