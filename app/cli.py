"""Command-line tools: `flask users create-admin`, `flask demo load`, `flask worker`, `flask mail ingest`."""
import secrets
import sys

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import func, select

from app.extensions import db
from app.models import User

users_cli = AppGroup("users", help="Manage user accounts.")
demo_cli = AppGroup("demo", help="Demo data for trying Hilo.")
mail_cli = AppGroup("mail", help="Inbound mail.")


@users_cli.command("create-admin")
@click.option("--email", prompt=True)
@click.option("--name", default="Administrator", show_default=True)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
def create_admin(email: str, name: str, password: str):
    """Create an administrator (or promote and reset an existing user)."""
    from app.services import accounts

    try:
        user = accounts.create_or_promote_admin(email, name, password)
    except ValueError as err:
        raise click.ClickException(str(err))
    db.session.commit()
    click.echo(f"Admin ready: {user.email}")


@demo_cli.command("load")
@click.option("--if-empty", is_flag=True, help="Only when the database has no user yet.")
def demo_load(if_empty: bool):
    """Load a few agents, contacts and messages, and print the admin's login."""
    import os

    from app.services import demo

    if if_empty and db.session.scalar(select(func.count(User.id))):
        click.echo("Demo data already loaded; sign in as admin@example.com.")
        return
    password = os.environ.get("DEMO_ADMIN_PASSWORD") or secrets.token_urlsafe(12)
    demo.load(password)
    db.session.commit()
    click.echo("")
    click.echo("  Demo data loaded. Sign in as the admin:")
    click.echo("    email:    admin@example.com")
    click.echo(f"    password: {password}")
    click.echo("  (printed once; reset it with `flask users create-admin`)")
    click.echo("")


@mail_cli.command("ingest")
@click.option("--recipient", "recipients", multiple=True, help="An envelope recipient (repeatable).")
def mail_ingest(recipients):
    """Take one RFC 822 mail on stdin (an MTA's pipe), store and route it.

    Exit status, as MTAs read it: 0 stored (routed, caught, or a duplicate), 67 (EX_NOUSER) bounce
    it, 75 (EX_TEMPFAIL) try again later (the database is unreachable). Never a traceback.
    """
    import logging

    from sqlalchemy.exc import OperationalError

    from app.services import mailgate

    raw = sys.stdin.buffer.read()
    try:
        # As a job: a request context on BASE_URL, for the links in what the mail makes.
        with current_app.test_request_context(base_url=current_app.config["BASE_URL"]):
            outcome = mailgate.ingest(raw, recipients)
    except OperationalError as err:
        db.session.rollback()
        click.echo(f"hilo: cannot store the mail now ({err.__class__.__name__}); try again later", err=True)
        sys.exit(mailgate.EX_TEMPFAIL)
    except Exception:
        db.session.rollback()
        logging.getLogger(__name__).exception("inbound mail could not be stored")
        click.echo("hilo: the mail could not be stored; try again later", err=True)
        sys.exit(mailgate.EX_TEMPFAIL)
    if outcome.exit_code:
        click.echo(f"hilo: {outcome.reason}", err=True)
    sys.exit(outcome.exit_code)


@click.command("worker")
@click.option("--burst", is_flag=True, help="Stop when the queue is empty (tests).")
def worker(burst: bool):
    """Run an RQ worker with the scheduler, inside this app's context (needs REDIS_URL).

    Jobs run in this process (RQ's SimpleWorker), not in a fork per job: our jobs are short
    database work, and a fork costs more than most of them. Run more workers to go faster.
    """
    from rq import SimpleWorker

    backend = current_app.extensions["hilo_jobs"]
    if not hasattr(backend, "queue"):
        click.echo("REDIS_URL is not set: jobs already run inside the web process.", err=True)
        sys.exit(1)
    if not burst:
        from app.services.jobs import start_periodic

        start_periodic(current_app._get_current_object())
    SimpleWorker([backend.queue], connection=backend.redis).work(with_scheduler=True, burst=burst)


def init_app(app) -> None:
    app.cli.add_command(users_cli)
    app.cli.add_command(demo_cli)
    app.cli.add_command(mail_cli)
    app.cli.add_command(worker)
    from app.jobs.activities import init_cli as activities_cli

    activities_cli(app)
