"""Presence: a person's status from their open sockets, in this process or in Redis."""
import pytest

from app.services import presence
from app.services.presence import LocalPresence, RedisPresence


@pytest.fixture(params=["local", "redis"])
def store(request, app, redis_url):
    if request.param == "local":
        return LocalPresence()
    if not redis_url:
        pytest.skip("the embedded run has no Redis")
    from redis import Redis

    return RedisPresence(Redis.from_url(redis_url), app.config["REALTIME_PREFIX"])


@pytest.fixture
def clock(monkeypatch):
    now = [1_000_000.0]
    monkeypatch.setattr(presence.time, "time", lambda: now[0])
    return now


def test_online_if_any_page_is_away_if_all_are(store, clock):
    assert store.statuses([7]) == {7: "offline"}
    assert store.update(7, "a", "online") == ("online", True)
    assert store.update(7, "b", "away") == ("online", False)  # another page is still active
    assert store.update(7, "a", "away") == ("away", True)
    assert store.update(7, "b", "online") == ("online", True)
    assert store.update(7, "b", None) == ("away", True)
    assert store.update(7, "a", None) == ("offline", True)
    assert store.statuses([7, 8]) == {7: "offline", 8: "offline"}


def test_a_connection_not_heard_of_stops_counting(store, clock):
    store.update(7, "dead", "online")  # its process died: no heartbeat, no goodbye
    clock[0] += presence.STALE - 1
    assert store.statuses([7]) == {7: "online"}
    store.update(7, "alive", "away")
    clock[0] += 2
    assert store.statuses([7]) == {7: "away"}
    # The next heartbeat corrects what others were shown (online, from the dead page), once.
    assert store.update(7, "alive", "away") == ("away", True)
    assert store.update(7, "alive", "away") == ("away", False)


def test_the_sweep_finds_people_whose_every_connection_died(store, clock):
    store.update(7, "dead", "online")  # its process died: no heartbeat, no goodbye
    store.update(8, "alive", "away")
    clock[0] += presence.STALE + 1
    store.update(8, "alive", "away")  # a heartbeat
    assert store.sweep() == [7]
    assert store.statuses([7, 8]) == {7: "offline", 8: "away"}
    assert store.sweep() == []  # pushed once


def test_the_sweep_pushes_what_it_finds(app, pushed, clock):
    with app.test_request_context():
        presence.connect(42)
        presence.drain()
        clock[0] += presence.STALE + 1
        app.extensions["hilo_presence_pusher"].sweep()
        presence.drain()
    frames = [html for topic, html in pushed if topic == "presence"]
    assert "presence-u42 is-online" in frames[0] and "presence-u42 is-offline" in frames[-1]


@pytest.fixture
def pushed(app, monkeypatch):
    """What presence publishes at once (`publish_now`)."""
    sent = []
    monkeypatch.setattr(app.extensions["hilo_bus"], "send", lambda topic, html: sent.append((topic, html)))
    return sent


def test_changes_are_pushed_to_the_presence_topic(app, pushed):
    with app.test_request_context():
        conn = presence.connect(42)
        presence.drain()
        presence.report(42, conn, "online")  # a heartbeat: no change, no push
        presence.report(42, conn, "busy")  # not a status: ignored
        presence.drain()
        presence.disconnect(42, conn)
        presence.drain()
    frames = [html for topic, html in pushed if topic == "presence"]
    assert len(frames) == 2
    assert 'hx-swap-oob="beforeend:#live"' in frames[0] and 'data-user="42"' in frames[0]
    assert "presence-u42 is-online" in frames[0]
    assert "is-offline" in frames[1]


def test_changes_close_together_go_out_as_one_push(app, pushed, monkeypatch):
    """A reconnect storm: N people coming back is not N pushes to every socket."""
    monkeypatch.setattr(presence, "BATCH", 60)  # nothing pushed by the timer during the test
    with app.test_request_context():
        presence.drain()  # the last push was just now: the next changes wait for the batch
        conns = {uid: presence.connect(uid) for uid in range(1, 51)}
        presence.disconnect(7, conns[7])
        assert [t for t, _ in pushed if t == "presence"] == []
        presence.drain()
    (frame,) = [html for topic, html in pushed if topic == "presence"]
    assert frame.count('class="presence-update"') == 50
    assert "presence-u1 is-online" in frame and "presence-u7 is-offline" in frame  # as it is now


def test_what_others_were_shown_stays_true_when_pages_change_at_once(store):
    """Many sockets of one person changing together: the last status shown is the real one."""
    import threading

    def flip(conn):
        for n in range(30):
            store.update(9, conn, "away" if n % 2 else "online")

    threads = [threading.Thread(target=flip, args=(f"c{i}",)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Every page ends away (n = 29): the person is away, and that is what was last pushed.
    assert store.statuses([9]) == {9: "away"}
    assert store.update(9, "c0", "away") == ("away", False)
