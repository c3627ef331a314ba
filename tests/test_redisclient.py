"""The Redis client: URLs, encoding, and one connection in chatd's loop against redis-server."""

from __future__ import annotations

import math
import random
import selectors
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import hiredis
import pytest
from e2e import free_port
from harness import FakeClock
from hypothesis import given
from hypothesis import strategies as st
from redis_server import REDIS_SERVER, SKIP_REASON, RedisServer

from chatd import redisclient
from chatd.loop import Loop
from chatd.redisclient import Backoff, RedisClient
from chatd.rediscommands import Commands, ConnectionLost, encode
from chatd.redisurl import RedisTarget, RedisTargetError, parse_target
from chatd.tls import client_context

needs_redis = pytest.mark.skipif(REDIS_SERVER is None, reason=SKIP_REASON)

# URLs and unix socket paths.


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("redis://127.0.0.1", RedisTarget(host="127.0.0.1")),
        ("redis://cache.example:6380/2", RedisTarget(host="cache.example", port=6380, db=2)),
        ("redis://[::1]:7000", RedisTarget(host="::1", port=7000)),
        ("redis://:s3cret@h", RedisTarget(host="h", password="s3cret")),
        ("redis://chat:p%40ss@h/1", RedisTarget(host="h", db=1, username="chat", password="p@ss")),
        ("redis://h?db=4", RedisTarget(host="h", db=4)),
        ("rediss://h:6390", RedisTarget(host="h", port=6390, tls=True)),
        ("/run/redis/redis.sock", RedisTarget(path="/run/redis/redis.sock")),
        ("unix:///run/redis.sock?db=3", RedisTarget(path="/run/redis.sock", db=3)),
        ("unix://u:pw@/tmp/r.sock", RedisTarget(path="/tmp/r.sock", username="u", password="pw")),
    ],
)
def test_targets_parse(text: str, expected: RedisTarget) -> None:
    assert parse_target(text) == expected


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "is empty"),
        (6379, "must be a redis:// or rediss:// URL"),
        ("localhost:6379", "neither a URL"),
        ("http://h", "unknown scheme 'http://'"),
        ("redis://", "has no host"),
        ("redis://h:abc", "the port must be a number"),
        ("redis://h:70000", "the port must be a number"),
        ("redis://h/x", "the database 'x' is not a number"),
        ("redis://h/1?db=2", "names two databases"),
        ("redis://h?timeout=3", "unknown option 'timeout'"),
        ("redis://user@h", "the user 'user' needs a password"),
        ("unix://relative.sock", "a unix URL has no host"),
        ("redis://h#x", "has a '#' part"),
    ],
)
def test_bad_targets_say_what_is_wrong(text: object, words: str) -> None:
    with pytest.raises(RedisTargetError) as caught:
        parse_target(text)
    assert str(caught.value).startswith("cluster.redis: ")
    assert words in str(caught.value)


def test_errors_never_show_the_password() -> None:
    with pytest.raises(RedisTargetError) as caught:
        parse_target("redis://chat:hunter2@h:notaport")
    assert "hunter2" not in str(caught.value) and "chat:***@" in str(caught.value)
    assert "hunter2" not in repr(parse_target("redis://chat:hunter2@h"))


def test_auth_and_select_come_from_the_target() -> None:
    assert parse_target("redis://h").hello_commands() == []
    assert parse_target("redis://:pw@h/2").hello_commands() == [("AUTH", "pw"), ("SELECT", "2")]
    assert parse_target("redis://u:pw@h").hello_commands() == [("AUTH", "u", "pw")]
    assert parse_target("rediss://[::1]:7000/5").describe() == "rediss://[::1]:7000/5"


# Encoding, and hiredis's parsing.

_args = st.lists(
    st.one_of(st.binary(max_size=40), st.text(max_size=20), st.integers(-(2**63), 2**64)),
    min_size=1,
    max_size=8,
)


@given(_args)
def test_any_command_reads_back_as_its_arguments(args: list[bytes | str | int]) -> None:
    reader = hiredis.Reader()
    reader.feed(encode(*args))
    as_bytes = [a if isinstance(a, bytes) else str(a).encode() for a in args]
    assert reader.gets() == as_bytes
    assert reader.gets() is False  # nothing left over


def test_encoding_matches_the_reference_and_refuses_what_it_cannot_say() -> None:
    assert encode("SET", b"k\r\n", 5) == hiredis.pack_command(("SET", b"k\r\n", 5))
    with pytest.raises(ValueError, match="at least its name"):
        encode()
    with pytest.raises(TypeError, match="bool"):
        encode("SET", "k", True)
    with pytest.raises(TypeError, match="float"):
        encode("SET", "k", 1.5)


class Sent(Commands):
    """Commands that only record the arguments they were given."""

    def __init__(self) -> None:
        self.sent: list[tuple[tuple[Any, ...], float]] = []

    def call(self, *args: Any, callback: Any = None, block: float = 0.0) -> bool:
        self.sent.append((args, block))
        return True


def test_helpers_build_the_arguments_redis_expects() -> None:
    c = Sent()
    c.xadd("s", {"a": 1}, minid=0)
    c.xadd("s", [("a", 1), ("b", 2)], id="5-1", maxlen=100, exact=True)
    c.xread({"s": "0-0", "t": "$"}, block_ms=1500, count=10)
    c.xread({"s": "0-0"}, block_ms=0)
    c.set("lease", "n1", px=5000, nx=True)
    c.delete("a", "b")
    assert [args for args, _ in c.sent] == [
        ("XADD", "s", "MINID", "~", 0, "*", "a", 1),
        ("XADD", "s", "MAXLEN", "=", 100, "5-1", "a", 1, "b", 2),
        ("XREAD", "COUNT", 10, "BLOCK", 1500, "STREAMS", "s", "t", "0-0", "$"),
        ("XREAD", "BLOCK", 0, "STREAMS", "s", "0-0"),
        ("SET", "lease", "n1", "PX", 5000, "NX"),
        ("DEL", "a", "b"),
    ]
    assert [block for _, block in c.sent[2:4]] == [1.5, math.inf], "BLOCK adds to the timeout"
    with pytest.raises(ValueError, match="not both"):
        c.xadd("s", {"a": 1}, maxlen=1, minid="1-0")
    with pytest.raises(ValueError, match="at least one field"):
        c.xadd("s", {})


def test_backoff_doubles_to_its_cap_with_bounded_jitter() -> None:
    class Fixed(random.Random):
        def __init__(self, value: float) -> None:
            super().__init__()
            self.value = value

        def random(self) -> float:
            return self.value

    middle = Backoff(rng=Fixed(0.5))
    assert [round(middle.next(), 6) for _ in range(8)] == [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 5, 5]
    middle.reset()
    assert middle.next() == pytest.approx(0.1)
    assert Backoff(rng=Fixed(0.0)).next() == pytest.approx(0.08)
    assert Backoff(rng=Fixed(0.999999)).next() == pytest.approx(0.12)


# Driving the client in chatd's loop.


class RecordingLoop(Loop):
    """chatd's loop, noting every delay asked of it, so the backoff can be checked."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(clock)
        self.delays: list[float] = []

    def call_later(self, delay: float, callback: Callable[[], None]):  # type: ignore[override]
        self.delays.append(delay)
        return super().call_later(delay, callback)


def run_until(loop: Loop, done: Callable[[], bool], timeout: float = 5.0) -> None:
    """Steps the loop until done(); a bounded real-time wait, no sleeping."""
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "the client did not get there in time"
        loop.run_once(0.05)


class Recorder:
    """Replies and states as they come."""

    def __init__(self) -> None:
        self.replies: list[Any] = []
        self.states: list[bool] = []

    def reply(self, value: Any) -> None:
        self.replies.append(value)

    def state(self, up: bool) -> None:
        self.states.append(up)


def connect(loop: Loop, url: str, recorder: Recorder | None = None, **kw: Any) -> RedisClient:
    client = RedisClient(
        parse_target(url),
        loop,
        on_state=recorder.state if recorder else None,
        **kw,
    )
    loop.on_tick(client.tick)
    client.start()
    return client


def ask(loop: Loop, client: RedisClient, *args: Any) -> Any:
    """One command's reply, the loop stepped until it comes."""
    got: list[Any] = []
    client.call(*args, callback=got.append)
    run_until(loop, lambda: bool(got))
    return got[0]


@pytest.fixture(scope="module")
def redis(tmp_path_factory: pytest.TempPathFactory):
    if REDIS_SERVER is None:
        pytest.skip(SKIP_REASON)
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


@pytest.fixture
def loop():
    made = Loop()
    yield made
    made.close()


@needs_redis
def test_pipelined_commands_leave_in_one_write_and_replies_keep_order(redis, loop) -> None:
    rec = Recorder()
    client = connect(loop, redis.unix_url, rec)
    run_until(loop, lambda: client.up)
    assert rec.states == [True]
    writes = []
    stream = client._stream
    send = stream.send
    stream.send = lambda data: writes.append(len(data)) or send(data)  # type: ignore[method-assign]
    client.delete("pipelined")
    for _ in range(300):
        client.call("INCR", "pipelined", callback=rec.reply)
    client.call("GET", "no-such-key", callback=rec.reply)
    client.call("LPUSH", "pipelined", "x", callback=rec.reply)  # wrong type: an error
    client.call("ECHO", b"\x00\r\n\xff", callback=rec.reply)
    run_until(loop, lambda: len(rec.replies) == 303)
    assert len(writes) == 1, "the whole turn's commands left in one write"
    assert rec.replies[:301] == [*range(1, 301), None]
    assert isinstance(rec.replies[301], hiredis.ReplyError)
    assert "WRONGTYPE" in str(rec.replies[301])
    assert rec.replies[302] == b"\x00\r\n\xff"
    client.close()


@needs_redis
def test_tcp_with_db_selected_on_connect(redis, loop) -> None:
    db3 = connect(loop, f"redis://127.0.0.1:{redis.port}/3")
    db0 = connect(loop, f"redis://127.0.0.1:{redis.port}")
    assert ask(loop, db3, "SET", "where", "three") == b"OK"
    assert ask(loop, db0, "GET", "where") is None
    assert ask(loop, db3, "GET", "where") == b"three"
    assert ask(loop, db3, "CLIENT", "INFO").split()[-1] != b""  # a live TCP connection
    assert b" db=3 " in ask(loop, db3, "CLIENT", "INFO")
    for c in (db3, db0):
        c.close()


@needs_redis
def test_xadd_reaches_a_second_connection_blocked_in_xread(redis, loop) -> None:
    writer = connect(loop, redis.unix_url)
    reader = connect(loop, redis.unix_url)
    writer.delete("events")
    first = ask(loop, writer, "XADD", "events", "*", "n", "1")
    got: list[Any] = []
    reader.xread({"events": first}, got.append, block_ms=5000, count=100)
    # Only once Redis holds the reader blocked does the writer append: no race, no sleep.
    run_until(loop, lambda: b"cmd=xread" in ask(loop, writer, "CLIENT", "LIST"))
    assert not got
    got_id: list[Any] = []
    writer.xadd("events", {"n": "2", "who": "node-a"}, got_id.append, maxlen=1000)
    run_until(loop, lambda: bool(got) and bool(got_id))
    assert got == [[[b"events", [[got_id[0], [b"n", b"2", b"who", b"node-a"]]]]]]
    # A BLOCK that times out answers None; trimming keeps what was asked.
    reader.xread({"events": "$"}, got.append, block_ms=10)
    run_until(loop, lambda: len(got) == 2)
    assert got[1] is None
    ids: list[Any] = []
    for n in range(3, 8):
        writer.xadd("events", [("n", n)], ids.append, maxlen=3, exact=True)
    assert ask(loop, writer, "XLEN", "events") == 3
    writer.xadd("events", {"n": 9}, minid=ids[-1], exact=True)  # keeps ids[-1] and after
    assert ask(loop, writer, "XLEN", "events") == 2
    writer.close()
    reader.close()


@needs_redis
def test_leases_with_set_px_nx_and_compare_and_set(redis, loop) -> None:
    client = connect(loop, redis.unix_url)
    out: list[Any] = []
    client.delete("lease")
    client.set("lease", "node-a", out.append, px=5000, nx=True)
    client.set("lease", "node-b", out.append, px=5000, nx=True)
    client.get("lease", out.append)
    client.compare_and_set("lease", "node-b", "node-b", out.append, px=5000)
    client.compare_and_set("lease", "node-a", "node-a2", out.append, px=5000)
    client.call("PTTL", "lease", callback=out.append)
    client.set("other", "v", out.append, xx=True)
    client.delete("lease", "other", callback=out.append)
    run_until(loop, lambda: len(out) == 8)
    assert out[:5] == [b"OK", None, b"node-a", 0, 1]
    assert 0 < out[5] <= 5000
    assert out[6:] == [None, 1]
    with pytest.raises(ValueError, match="NX or XX"):
        client.set("k", "v", nx=True, xx=True)
    client.close()


@needs_redis
def test_a_stopped_redis_costs_time_not_commands(redis, loop) -> None:
    client = connect(loop, redis.unix_url)
    run_until(loop, lambda: client.up)
    client.delete("stopped")
    out: list[Any] = []
    for i in range(50):
        client.call("RPUSH", "stopped", i, callback=out.append)
    run_until(loop, lambda: len(out) == 50)
    redis.pause()
    try:
        for i in range(50, 150):
            client.call("RPUSH", "stopped", i, callback=out.append)
        until = time.monotonic() + 1.0
        run_until(loop, lambda: time.monotonic() >= until)
        assert len(out) == 50, "no reply can come from a stopped server"
    finally:
        redis.resume()
    run_until(loop, lambda: len(out) == 150)
    assert out == list(range(1, 151))
    assert ask(loop, client, "LRANGE", "stopped", 0, -1) == [b"%d" % i for i in range(150)]
    assert client.up and client.last_error is None
    client.close()


@pytest.fixture
def own_redis(tmp_path: Path):
    """A server of the test's own, to kill and restart, with a password."""
    if REDIS_SERVER is None:
        pytest.skip(SKIP_REASON)
    server = RedisServer(tmp_path, "--requirepass", "secret", "--user", "chat", "on", ">pw", "~*",
                         "+@all")  # fmt: skip
    yield server
    server.stop()


@needs_redis
def test_auth_as_an_acl_user_or_with_the_password_alone(own_redis, loop) -> None:
    as_user = connect(loop, f"unix://chat:pw@{own_redis.socket_path}")
    as_default = connect(loop, f"redis://:secret@127.0.0.1:{own_redis.port}")
    assert ask(loop, as_user, "ACL", "WHOAMI") == b"chat"
    assert ask(loop, as_default, "ACL", "WHOAMI") == b"default"
    rec = Recorder()
    wrong = connect(loop, f"unix://chat:nope@{own_redis.socket_path}", rec)
    out: list[Any] = []
    wrong.call("PING", callback=out.append)
    run_until(loop, lambda: wrong.last_error is not None)
    assert wrong.last_error.startswith("AUTH refused: WRONGPASS"), wrong.last_error
    assert not wrong.up and rec.states == [] and out == [], "nothing runs unauthenticated"
    for c in (as_user, as_default, wrong):
        c.close()
    assert isinstance(out[0], ConnectionLost), "close() fails what still waited"


@needs_redis
def test_reconnects_with_backoff_after_redis_restarts(own_redis) -> None:
    clock = FakeClock()
    loop = RecordingLoop(clock)
    rec = Recorder()
    logged: list[str] = []
    url = f"unix://chat:pw@{own_redis.socket_path}?db=2"
    client = connect(loop, url, rec, log=logged.append, backoff=Backoff(rng=random.Random(7)))
    run_until(loop, lambda: client.up)
    in_flight: list[Any] = []
    own_redis.pause()  # so these are surely sent and surely unanswered
    for _ in range(3):
        client.call("INCR", "n", callback=in_flight.append)
    run_until(loop, lambda: client.pending_bytes() == 0)
    loop.delays.clear()
    own_redis.kill()
    run_until(loop, lambda: len(in_flight) == 3)
    assert all(isinstance(r, ConnectionLost) for r in in_flight)
    assert rec.states == [True, False]
    # The socket file stays, refusing: each attempt fails at once and waits longer.
    for _ in range(4):
        clock.advance(10)
        loop.run_once(0)
    retries = [d for d in loop.delays if d < 6]  # the watchdog's 10 s timers aside
    assert len(retries) >= 4
    for delay, base in zip(retries, (0.1, 0.2, 0.4, 0.8), strict=False):
        assert base * 0.8 <= delay <= base * 1.2
    assert "ECONNREFUSED" in client.last_error and "retrying in" in logged[-1]
    own_redis.start()
    clock.advance(10)
    run_until(loop, lambda: client.up)
    assert rec.states == [True, False, True]
    assert client.backoff.next() == pytest.approx(0.1, rel=0.2), "reset after AUTH and SELECT"
    assert ask(loop, client, "ACL", "WHOAMI") == b"chat"
    assert ask(loop, client, "CLIENT", "INFO").count(b" db=2 ") == 1
    client.close()
    loop.close()


@needs_redis
def test_queued_bytes_are_capped_and_the_caller_hears_when_they_drain(redis, loop) -> None:
    drained: list[bool] = []
    client = RedisClient(
        parse_target(redis.unix_url), loop, max_pending=1000, on_drain=lambda: drained.append(1)
    )
    loop.on_tick(client.tick)
    accepted = [client.call("SET", "cap", "x" * 50) for _ in range(30)]
    fit = 1000 // len(encode("SET", "cap", "x" * 50))
    assert accepted == [True] * fit + [False] * (30 - fit) and client.over_limit
    assert client.pending_bytes() > 1000, "over the cap, commands are still kept, not dropped"
    client.start()
    run_until(loop, lambda: bool(drained))
    assert drained == [1] and not client.over_limit and client.pending_bytes() <= 500
    assert ask(loop, client, "GET", "cap") == b"x" * 50
    client.close()


# Against a listener of the test's own: replies cut anywhere, silence, nonsense.


class FakeRedis:
    def __init__(self, path: str) -> None:
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(path)
        self.listener.listen()
        self.path = path
        self.conn: socket.socket | None = None

    def accept(self, loop: Loop) -> socket.socket:
        self.listener.setblocking(False)

        def accepted() -> bool:
            try:
                self.conn, _ = self.listener.accept()
            except BlockingIOError:
                return False
            return True

        run_until(loop, accepted)
        assert self.conn is not None
        return self.conn

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
        self.listener.close()


@pytest.fixture
def fake(tmp_path: Path):
    server = FakeRedis(str(tmp_path / "fake.sock"))
    yield server
    server.close()


def test_a_reply_cut_at_every_byte_still_parses(fake, loop) -> None:
    client = connect(loop, f"unix://{fake.path}")
    conn = fake.accept(loop)
    run_until(loop, lambda: client.up)
    out: list[Any] = []
    for _ in range(5):
        client.call("X", callback=out.append)
    replies = b"+OK\r\n:-42\r\n$5\r\nab\r\nc\r\n*3\r\n$-1\r\n:1\r\n*1\r\n$0\r\n\r\n-ERR no\r\n"
    for i in range(len(replies)):
        conn.sendall(replies[i : i + 1])
        loop.run_once(0.5)
    run_until(loop, lambda: len(out) == 5)
    assert out[:4] == [b"OK", -42, b"ab\r\nc", [None, 1, [b""]]]
    assert isinstance(out[4], hiredis.ReplyError) and str(out[4]) == "ERR no"
    client.close()
    # An event the selector reported before the close, delivered after it: ignored.
    client.on_ready(selectors.EVENT_READ | selectors.EVENT_WRITE)
    assert client.sock is None


def test_silence_past_the_timeout_drops_the_connection(fake) -> None:
    clock = FakeClock()
    loop = RecordingLoop(clock)
    rec = Recorder()
    client = connect(loop, f"unix://{fake.path}", rec, timeout=2.0)
    fake.accept(loop)
    run_until(loop, lambda: client.up)
    out: list[Any] = []
    client.call("PING", callback=out.append)
    client.xread({"s": "$"}, out.append, block_ms=5000)
    loop.run_once(0)
    clock.advance(1.9)
    loop.run_once(0)
    assert out == [] and client.up
    clock.advance(0.2)
    loop.run_once(0)
    assert len(out) == 2 and all(isinstance(r, ConnectionLost) for r in out)
    assert "no answer from Redis in 2 s" in str(out[0])
    assert rec.states == [True, False]
    client.close()
    loop.close()


def test_a_reply_to_no_command_or_over_max_reply_drops_the_connection(fake, loop) -> None:
    client = connect(loop, f"unix://{fake.path}", max_reply=100)
    conn = fake.accept(loop)
    run_until(loop, lambda: client.up)
    conn.sendall(b"+surprise\r\n")
    run_until(loop, lambda: not client.up)
    assert client.last_error == "Redis sent a reply to no command"
    conn = fake.accept(loop)  # the retry, 0.1 s later
    run_until(loop, lambda: client.up)
    out: list[Any] = []
    client.call("GET", "big", callback=out.append)
    run_until(loop, lambda: client.pending_bytes() == 0)
    conn.sendall(b"$1000\r\n" + b"x" * 200)
    run_until(loop, lambda: bool(out))
    assert isinstance(out[0], ConnectionLost)
    assert client.last_error == "a reply over 100 bytes (max_reply)"
    conn = fake.accept(loop)
    run_until(loop, lambda: client.up)
    client.call("GET", "k", callback=out.append)
    run_until(loop, lambda: client.pending_bytes() == 0)
    conn.sendall(b"@bad\r\n")
    run_until(loop, lambda: len(out) == 2)
    assert "unreadable reply" in client.last_error
    client.close()


# rediss://: TLS through chatd.tls.TlsStream, verified against the test's own CA.


@pytest.fixture
def tls_redis(tmp_path: Path):
    if REDIS_SERVER is None:
        pytest.skip(SKIP_REASON)
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    paths = {name: str(tmp_path / f"{name}.pem") for name in ("ca", "cert", "key")}
    ca.cert_pem.write_to_path(paths["ca"])
    cert.cert_chain_pems[0].write_to_path(paths["cert"])
    cert.private_key_pem.write_to_path(paths["key"])
    tls_port = free_port()
    server = RedisServer(
        tmp_path,
        "--tls-port", str(tls_port),
        "--tls-cert-file", paths["cert"],
        "--tls-key-file", paths["key"],
        "--tls-ca-cert-file", paths["ca"],
        "--tls-auth-clients", "no",
    )  # fmt: skip
    server.tls_port = tls_port  # type: ignore[attr-defined]
    server.ca_path = paths["ca"]  # type: ignore[attr-defined]
    yield server
    server.stop()


@needs_redis
def test_rediss_speaks_tls_and_verifies_the_server(tls_redis, loop, monkeypatch) -> None:
    # A small read budget: what TLS decrypted past it must still be read, unannounced.
    monkeypatch.setattr(redisclient, "READ_BUDGET", 1000)
    url = f"rediss://127.0.0.1:{tls_redis.tls_port}/1"
    client = connect(loop, url, tls_context=client_context(cafile=tls_redis.ca_path))
    out: list[Any] = []
    for i in range(200):
        client.call("ECHO", b"%d" % i * 100, callback=out.append)
    run_until(loop, lambda: len(out) == 200)
    assert out == [b"%d" % i * 100 for i in range(200)]
    assert b" db=1 " in ask(loop, client, "CLIENT", "INFO")
    client.close()
    untrusted = connect(loop, url)  # the system's CAs do not know the test's CA
    run_until(loop, lambda: untrusted.last_error is not None)
    assert untrusted.last_error.startswith("TLS: certificate verify failed"), untrusted.last_error
    assert not untrusted.up
    untrusted.close()


def test_a_tls_handshake_that_never_ends_times_out() -> None:
    clock = FakeClock()
    loop = RecordingLoop(clock)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()  # accepted by the kernel, answered by no one
        port = listener.getsockname()[1]
        client = connect(loop, f"rediss://127.0.0.1:{port}", timeout=2.0)
        for _ in range(5):
            loop.run_once(0.01)
        assert client.sock is not None and client.last_error is None
        clock.advance(2.1)
        loop.run_once(0)
        assert client.last_error == "no answer from Redis in 2 s" and client.sock is None
        client.close()
    loop.close()
