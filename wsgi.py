"""WSGI entry point: `gunicorn wsgi:app`."""
from app import create_app
from app.services.jobs import ThreadBackend, start_periodic

app = create_app()
if isinstance(app.extensions["hilo_jobs"], ThreadBackend):  # embedded: this process runs the sweeps
    start_periodic(app)
