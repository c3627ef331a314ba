"""IRC connection timers in the real server, the loop stepped with a clock of our own: the
registration timeout, the server's PING of silent users, and how idle_timeout fits."""

from __future__ import annotations

from harness import Harness, Peer


def join(h: Harness, peer: Peer, room: str = "#lobby") -> None:
    peer.sock.sendall(f"JOIN {room}\r\n".encode())
    h.step(3)
    peer.lines()


# Registration.


def test_unregistered_irc_connection_is_closed_after_the_registration_timeout():
    h = Harness(registration_timeout=10)
    irc = h.irc_connect()
    irc.sock.sendall(b"NICK alice\r\n")  # no USER: never registers
    h.step(2)
    h.tick(9)
    assert irc.lines() == [] and not irc.closed()
    h.tick(1.5)
    h.step(2)
    assert irc.lines() == ["ERROR :Closing link: 10.0.0.9 (Registration timeout)"]
    assert irc.closed()
    assert h.server.clients == {} and h.server.irc.sessions == {}
    h.close()


def test_talking_does_not_stretch_the_registration_timeout():
    h = Harness(registration_timeout=10)
    irc = h.irc_connect()
    for _ in range(3):
        h.tick(3)
        irc.sock.sendall(b"PING :x\r\n")
        h.step(2)
    h.tick(1.5)
    h.step(2)
    assert irc.lines()[-1].endswith("(Registration timeout)")
    assert irc.closed()
    h.close()


def test_open_cap_negotiation_is_not_a_registration():
    h = Harness(registration_timeout=10)
    irc = h.irc_connect()
    irc.sock.sendall(b"CAP LS 302\r\nNICK alice\r\nUSER a 0 * :A\r\n")  # no CAP END
    h.step(3)
    assert not any(" 001 " in x for x in irc.lines())
    h.tick(11)
    h.step(2)
    assert irc.lines()[-1].endswith("(Registration timeout)")
    h.close()


def test_registered_user_is_not_closed_by_the_registration_timeout():
    h = Harness(registration_timeout=10, irc_ping_interval=0)
    irc = h.irc_connect()
    assert h.irc_register(irc, "alice")[0].startswith(":test 001 alice ")
    h.tick(30)
    h.step(2)
    assert irc.lines() == [] and not irc.closed()
    h.close()


def test_unregistered_connections_count_against_max_clients():
    h = Harness(max_clients=2)
    first, second = h.irc_connect(), h.irc_connect("10.0.0.8")
    line = h.connect(read_greeting=False)
    h.step(2)
    assert line.lines() == ["*** error: server is full (max 2 clients)"]
    assert line.closed()
    third = h.irc_connect("10.0.0.7")
    assert third.lines() == ["ERROR :Closing link: server full"]
    assert third.closed()
    assert not first.closed() and not second.closed()
    h.close()


def test_unregistered_connections_count_against_max_clients_per_ip():
    h = Harness(max_clients_per_ip=1)
    first = h.irc_connect()
    second = h.irc_connect()
    assert second.lines() == ["ERROR :Closing link: per ip"]
    assert second.closed() and not first.closed()
    h.close()


def test_a_slot_is_free_again_once_an_unregistered_connection_is_gone():
    h = Harness(max_clients=1, registration_timeout=5)
    h.irc_connect()
    h.tick(6)
    h.step(2)
    assert h.server.clients == {}
    line = h.connect(read_greeting=False)
    assert line.lines()[0].startswith("*** Welcome")
    h.close()


# The server's PING.


def test_silent_irc_user_is_pinged_and_a_pong_keeps_it():
    h = Harness(irc_ping_interval=30)
    irc = h.irc_connect()
    h.irc_register(irc, "alice")
    h.tick(29)
    assert irc.lines() == []
    h.tick(1.5)
    assert irc.lines() == ["PING test"]
    irc.sock.sendall(b"PONG :test\r\n")
    h.step(2)
    h.tick(29)
    assert irc.lines() == [] and not irc.closed()
    h.tick(2)
    assert irc.lines() == ["PING test"]  # silent again for an interval: pinged again
    h.close()


def test_any_input_answers_a_ping():
    h = Harness(irc_ping_interval=30)
    irc = h.irc_connect()
    h.irc_register(irc, "alice")
    h.tick(31)
    assert irc.lines() == ["PING test"]
    irc.sock.sendall(b"PRIVMSG nobody :hi\r\n")
    h.step(2)
    irc.lines()
    h.tick(29)
    h.step(2)
    assert not irc.closed()
    h.close()


def test_a_user_talking_is_never_pinged():
    h = Harness(irc_ping_interval=30)
    irc = h.irc_connect()
    h.irc_register(irc, "alice")
    for _ in range(10):
        h.tick(10)
        irc.sock.sendall(b"PRIVMSG nobody :hi\r\n")
        h.step(2)
    assert not any(x.startswith("PING") for x in irc.lines())
    h.close()


def test_unanswered_ping_closes_with_ping_timeout_and_the_room_sees_the_quit():
    h = Harness(irc_ping_interval=30)
    line = h.connect()
    irc = h.irc_connect()
    h.irc_register(irc, "alice")
    join(h, irc)
    bob = h.irc_connect("10.0.0.5")
    h.irc_register(bob, "bob")
    join(h, bob)
    line.lines()
    irc.lines()
    h.tick(31)
    assert irc.lines() == ["PING test"]
    bob.lines()
    bob.sock.sendall(b"PONG :test\r\n")
    h.step(2)
    h.tick(29)
    assert not irc.closed()
    h.tick(1.5)
    h.step(2)
    assert irc.lines() == ["ERROR :Closing link: 10.0.0.9 (Ping timeout)"]
    assert irc.closed()
    assert line.lines() == ["*** alice left #lobby (Ping timeout)"]
    quits = [x for x in bob.lines() if " QUIT " in x]
    assert len(quits) == 1 and quits[0].startswith(":alice!")
    assert quits[0].endswith(" QUIT :Ping timeout")
    assert not bob.closed()
    h.close()


def test_ping_interval_zero_never_pings():
    h = Harness(irc_ping_interval=0)
    irc = h.irc_connect()
    h.irc_register(irc, "alice")
    h.tick(100000)
    h.step(2)
    assert irc.lines() == [] and not irc.closed()
    h.close()


def test_line_users_are_never_pinged():
    h = Harness(irc_ping_interval=30)
    line = h.connect()
    h.tick(100)
    h.tick(100)
    assert line.lines() == [] and not line.closed()
    h.close()


def test_a_reload_that_shortens_the_ping_interval_applies_to_running_users():
    import dataclasses

    h = Harness(irc_ping_interval=600)
    irc = h.irc_connect()
    h.irc_register(irc, "alice")
    h.server.reconfigure(dataclasses.replace(h.config, irc_ping_interval=30))
    h.tick(31)
    h.step()
    assert irc.lines() == ["PING test"]
    h.close()


# idle_timeout for IRC: the user's own lines count, keep-alives (PING, PONG) do not.


def test_idle_timeout_ends_an_irc_user_who_only_answers_pings():
    h = Harness(idle_timeout=100, irc_ping_interval=30)
    irc = h.irc_connect()
    h.irc_register(irc, "alice")
    for _ in range(3):
        h.tick(31)
        assert irc.lines() == ["PING test"]
        irc.sock.sendall(b"PONG :test\r\nPING :lag-check\r\n")
        h.step(2)
        irc.lines()
    h.tick(8)
    h.step(2)
    assert irc.lines() == ["ERROR :Closing link: 10.0.0.9 (idle timeout)"]
    assert irc.closed()
    h.close()


def test_idle_timeout_spares_an_irc_user_who_talks():
    h = Harness(idle_timeout=100, irc_ping_interval=30)
    irc = h.irc_connect()
    h.irc_register(irc, "alice")
    for _ in range(6):
        h.tick(25)
        irc.sock.sendall(b"AWAY\r\n")
        h.step(2)
    assert not irc.closed()
    h.close()
