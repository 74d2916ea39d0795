"""Command-line tools: `flask users create-admin`, `flask demo load`, `flask worker`."""
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
    app.cli.add_command(worker)
    from app.jobs.activities import init_cli as activities_cli

    activities_cli(app)
