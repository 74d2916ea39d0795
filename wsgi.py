"""WSGI entry point: `gunicorn wsgi:app`."""
import os

from app import create_app
from app.services.jobs import ThreadBackend, start_periodic

app = create_app()
# Embedded: the web process runs the sweeps. Not a `flask …` command (db upgrade, mail ingest)
# that imports this module: it would start sweeping, and sending mail, for its short life.
if isinstance(app.extensions["hilo_jobs"], ThreadBackend) and os.environ.get("FLASK_RUN_FROM_CLI") != "true":
    start_periodic(app)
