"""services/realtime.py: both buses deliver to a topic's subscribers only, stop after
unsubscribe, and `publish` waits for the commit. No sleeps: ordering is proven with sentinels."""
import pytest
from sqlalchemy import text

from app.extensions import db
from app.services import realtime
from app.services.realtime import LocalBus, RedisBus


@pytest.fixture(params=["local", "redis"])
def bus(request, app):
    if request.param == "local":
        return LocalBus()
    if not app.config["REDIS_URL"]:
        pytest.skip("the embedded run has no Redis (the PostgreSQL run covers RedisBus)")
    return RedisBus(app.config["REDIS_URL"])


def test_delivers_to_subscribers_of_the_topic_only(bus):
    a1 = bus.subscribe(["thread:1"])
    a2 = bus.subscribe(["thread:1", "user:7"])
    b = bus.subscribe(["thread:2"])
    bus.send("thread:2", "for b")
    bus.send("thread:1", "for a")
    bus.send("user:7", "for a2")

    assert a1.get(timeout=5) == "for a"
    assert a2.get(timeout=5) == "for a" and a2.get(timeout=5) == "for a2"
    assert b.get(timeout=5) == "for b"
    # Each mailbox got exactly its own: the last event of every topic has been delivered.
    assert a1.get(timeout=0) is None and b.get(timeout=0) is None and a2.get(timeout=0) is None
    for sub in (a1, a2, b):
        sub.close()


def test_unsubscribe_stops_delivery(bus):
    leaving = bus.subscribe(["thread:1"])
    staying = bus.subscribe(["thread:1"])
    leaving.close()
    bus.send("thread:1", "after")
    # Both mailboxes are filled by the same fan-out: once `staying` has it, `leaving` would too.
    assert staying.get(timeout=5) == "after"
    assert leaving.get(timeout=0) is None
    staying.close()
    assert bus.health()["subscriptions"] == 0


def test_a_mailbox_is_a_context_manager(bus):
    with bus.subscribe(["user:1"]) as sub:
        assert bus.health()["subscriptions"] == 1
        bus.send("user:1", "x")
        assert sub.get(timeout=5) == "x"
    assert bus.health()["subscriptions"] == 0


def test_a_topic_is_watched_while_a_socket_listens_on_it_in_any_process(bus, app):
    import uuid

    topic = f"thread:{uuid.uuid4().int % 10**9}"
    # Another process: the same Redis, its own bus (the embedded bus has one process only).
    elsewhere = RedisBus(app.config["REDIS_URL"]) if isinstance(bus, RedisBus) else bus
    assert not bus.watched(topic) and not elsewhere.watched(topic)
    sub = bus.subscribe([topic])
    assert bus.watched(topic) and elsewhere.watched(topic)
    sub.close()
    if isinstance(bus, RedisBus):
        assert elsewhere.watched(topic)  # until its announcement runs out (WATCH_SECONDS)
        bus.WATCH_SECONDS = -1  # an announcement that ran out
        bus._announce([topic])
    assert not bus.watched(topic) and not elsewhere.watched(topic)


def test_a_full_mailbox_drops_instead_of_blocking_the_others():
    bus = LocalBus()
    stuck = bus.subscribe(["thread:1"])
    stuck.queue.maxsize = 1
    healthy = bus.subscribe(["thread:1"])
    bus.send("thread:1", "one")
    bus.send("thread:1", "two")
    assert [healthy.get(timeout=1), healthy.get(timeout=1)] == ["one", "two"]
    assert stuck.get(timeout=0) == "one" and stuck.get(timeout=0) is None


def test_publish_waits_for_the_commit(app):
    """The app's own bus (Redis in the PostgreSQL run): nothing leaves before commit, nothing after rollback."""
    with realtime.subscribe(["thread:5"]) as sub:
        realtime.publish("thread:5", "committed")
        realtime.publish_now("thread:5", "now")
        assert sub.get(timeout=5) == "now"
        db.session.commit()
        assert sub.get(timeout=5) == "committed"

        db.session.execute(text("SELECT 1"))  # work in a transaction, as a view does
        realtime.publish("thread:5", "rolled back")
        db.session.rollback()
        db.session.commit()
        realtime.publish_now("thread:5", "end")
        assert sub.get(timeout=5) == "end"


def test_publish_outside_a_transaction_is_dropped_by_rollback(app):
    with realtime.subscribe(["thread:6"]) as sub:
        db.session.commit()                     # no transaction open now
        realtime.publish("thread:6", "rolled back")
        db.session.rollback()
        db.session.commit()
        realtime.publish_now("thread:6", "end")
        assert sub.get(timeout=5) == "end"
