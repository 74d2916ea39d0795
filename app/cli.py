"""Command-line tools: `flask users create-admin`, `flask demo load`, `flask demo seed`, `flask worker`, `flask mail ingest`."""
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


@demo_cli.command("seed")
@click.option("--tickets", type=click.IntRange(min=1), default=10_000, show_default=True)
@click.option("--messages-per-ticket", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--teams", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--agents-per-team", type=click.IntRange(min=1), default=5, show_default=True)
@click.option("--closed-share", type=click.FloatRange(0, 1), default=0.3, show_default=True,
              help="Share of solved tickets outside the first team (whose tickets all stay open).")
@click.option("--password", default=None, help="The seeded agents' password (default: a random one, printed).")
def demo_seed(tickets: int, messages_per_ticket: int, teams: int, agents_per_team: int, closed_share: float,
              password: str | None):
    """Add a large helpdesk (teams, agents, customers, tickets with threads and SLA) in bulk."""
    from app.services.seed import seed_helpdesk

    click.echo(f"Seeding {tickets:,} tickets x {messages_per_ticket} messages over {teams} teams")
    result = seed_helpdesk(tickets, messages_per_ticket, teams=teams, agents_per_team=agents_per_team,
                           closed_share=closed_share, password=password, echo=click.echo)
    click.echo(f"Done in {result.seconds} s: {result.tickets:,} tickets, {result.messages:,} messages.")
    click.echo(f"  The board of team {result.teams[0]} holds {result.open_in_first_team:,} open tickets: "
               f"/helpdesk/teams/{result.teams[0]}/board")
    click.echo(f"  Sign in as {result.login_email} (a lead of that team), password: {result.password}")


@demo_cli.command("site")
@click.option("--hilo", "hilo_url", required=True, help="Where Hilo is served, e.g. http://127.0.0.1:5000")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Folder to write the page to")
def demo_site(hilo_url: str, out_dir: str):
    """Write a company's web page that embeds the demo's chat (served from another port by `make run`)."""
    from pathlib import Path

    from flask import render_template

    from app.services.demo import DEMO_CHAT_KEY

    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    with current_app.test_request_context():
        page = render_template("livechat/demo_site.html", loader=f"{hilo_url.rstrip('/')}/livechat/{DEMO_CHAT_KEY}/loader.js",
                               hilo=hilo_url.rstrip("/"))
    (folder / "index.html").write_text(page, encoding="utf-8")
    click.echo(f"wrote {folder / 'index.html'}")


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


@mail_cli.command("poll")
def mail_poll():
    """Fetch the new mail of IMAP_URL's mailbox once (what the worker does on its timer).

    Prints where each mail went. Exit status: 0 done (also when another poller has the mailbox
    now), 75 (EX_TEMPFAIL) the IMAP server or the database failed: the next poll starts there.
    """
    import logging

    from app.services import imap, mailgate

    try:
        with current_app.test_request_context(base_url=current_app.config["BASE_URL"]):
            result = imap.poll()
    except imap.ImapError as err:
        raise click.ClickException(str(err))
    except Exception:
        db.session.rollback()
        logging.getLogger(__name__).exception("IMAP poll failed")
        click.echo("hilo: the poll failed; the next one starts where it stopped", err=True)
        sys.exit(mailgate.EX_TEMPFAIL)
    for uid, outcome in result.fetched.items():
        where = f" thread {outcome.thread_id}" if outcome.thread_id else ""
        click.echo(f"UID {uid}: {outcome.status} ({outcome.reason}){where}")
    busy = ": another poller has the mailbox now" if result.busy else ""
    click.echo(f"{len(result.fetched)} mail(s) fetched{busy}")
    if result.error:
        click.echo(f"hilo: {result.error}; try again later", err=True)
        sys.exit(mailgate.EX_TEMPFAIL)


@mail_cli.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=2525, show_default=True, type=int)
@click.option("--lmtp", is_flag=True, help="Speak LMTP (an MTA's local delivery) instead of SMTP.")
@click.option("--tls-cert", type=click.Path(exists=True, dir_okay=False), help="Offer STARTTLS with this certificate.")
@click.option("--tls-key", type=click.Path(exists=True, dir_okay=False), help="Its private key.")
def mail_serve(host: str, port: int, lmtp: bool, tls_cert: str | None, tls_key: str | None):
    """Take mail over SMTP or LMTP and store it as `flask mail ingest` does, until stopped."""
    import signal
    import threading

    from app.services.mail_listener import GatewayController, tls_context

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    controller = GatewayController(current_app._get_current_object(), host, port, lmtp=lmtp,
                                   tls_context=tls_context(tls_cert, tls_key))
    try:
        controller.start()
    except (OSError, RuntimeError) as err:
        raise click.ClickException(f"cannot listen on {host}:{port}: {err}")
    click.echo(f"Taking mail for @{current_app.config['MAIL_DOMAIN']} over {'LMTP' if lmtp else 'SMTP'} "
               f"on {host}:{port}", err=True)
    stop.wait()
    controller.stop()


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
    SimpleWorker([backend.queue], connection=backend.worker_connection()).work(with_scheduler=True, burst=burst)


def init_app(app) -> None:
    app.cli.add_command(users_cli)
    app.cli.add_command(demo_cli)
    app.cli.add_command(mail_cli)
    app.cli.add_command(worker)
    from app.jobs.activities import init_cli as activities_cli

    activities_cli(app)
