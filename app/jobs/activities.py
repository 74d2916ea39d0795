"""Activity reminders (SPEC §1.7): the one-off job at the due moment and the periodic sweep."""
import logging

import click
from flask.cli import AppGroup

from app.extensions import db
from app.services import activities

log = logging.getLogger(__name__)


def send_reminder_job(activity_id: int) -> bool:
    """Remind the assignee of one activity (no-op if done, cancelled, rescheduled or already sent)."""
    try:
        sent = activities.send_reminder(activity_id)
        db.session.commit()
    except Exception:
        db.session.rollback()
        log.exception("reminder for activity %s failed", activity_id)
        raise
    return sent


def sweep_reminders_job() -> int:
    """Send every reminder whose moment has passed and that no job delivered."""
    try:
        sent = activities.send_due_reminders()
        db.session.commit()
    except Exception:
        db.session.rollback()
        log.exception("activity reminder sweep failed")
        raise
    if sent:
        log.info("activity sweep sent %d reminder(s)", sent)
    return sent


# ---- `flask activities remind` (cron, or by hand after an outage) ----------------------------

activities_cli = AppGroup("activities", help="Activities and their reminders.")


@activities_cli.command("remind")
def remind_command():
    """Send every activity reminder that is due and was not sent yet (idempotent)."""
    sent = sweep_reminders_job()
    click.echo(f"{sent} reminder(s) sent.")


def init_cli(app) -> None:
    """Register `flask activities ...` (called from app/cli.py)."""
    app.cli.add_command(activities_cli)
