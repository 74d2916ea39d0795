"""Fixtures of the service tests."""
import pytest


@pytest.fixture
def request_ctx(app):
    """Services render fragments with url_for: give them the request context a job would have.
    A module asks for it with `pytestmark = pytest.mark.usefixtures("request_ctx")`."""
    with app.test_request_context(base_url=app.config["BASE_URL"]):
        yield


@pytest.fixture
def events(app, monkeypatch):
    """Every (topic, html) the realtime bus sends after commit, as if a socket watched every
    topic (a fragment nobody watches is not even rendered: realtime.watched)."""
    sent = []
    monkeypatch.setattr(app.extensions["hilo_bus"], "send_many", sent.extend)
    monkeypatch.setattr(app.extensions["hilo_bus"], "watched", lambda topic: True)
    return sent
