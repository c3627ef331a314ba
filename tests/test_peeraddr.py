"""Client addresses: their normal form, the key per-address limits count by, and the chat
counting IPv6 clients by prefix and mapped IPv4 clients as IPv4."""

from __future__ import annotations

import ipaddress
import select
import socket

import pytest
from e2e import has_ipv6_loopback
from hypothesis import assume, given
from hypothesis import strategies as st

from chatd import config as cfg
from chatd.core import intents as i
from chatd.core import outcomes as o
from chatd.core.chat import Chat, CoreSettings
from chatd.peeraddr import first_overlap, irc_host, limit_key, normal, with_port

# The normal form ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("::ffff:127.0.0.1", "127.0.0.1"),
        ("::ffff:7f00:1", "127.0.0.1"),
        ("::1", "::1"),
        ("0:0:0:0:0:0:0:1", "::1"),
        ("2001:DB8:0:0:0:0:0:1", "2001:db8::1"),
        ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"),
        ("fe80::1%eth0", "fe80::1%eth0"),
        ("local", "local"),  # a unix socket's peer: no address
    ],
)
def test_normal_form(raw, shown):
    assert normal(raw) == shown


@given(st.ip_addresses(v=6))
def test_normal_form_is_the_compressed_address_or_its_mapped_ipv4(addr):
    shown = normal(addr.exploded)
    if addr.ipv4_mapped is not None:
        assert shown == str(addr.ipv4_mapped)
    else:
        assert shown == addr.compressed
    assert normal(shown) == shown


@given(st.ip_addresses(v=4))
def test_an_ipv4_address_and_its_mapped_form_are_one(addr):
    mapped = f"::ffff:{addr}"
    assert normal(mapped) == normal(str(addr)) == str(addr)
    assert limit_key(mapped) == limit_key(str(addr)) == str(addr)


@pytest.mark.parametrize(
    ("host", "port", "shown"),
    [
        ("127.0.0.1", 5000, "127.0.0.1:5000"),
        ("::1", 5000, "[::1]:5000"),
        ("::ffff:127.0.0.1", 6667, "127.0.0.1:6667"),
        ("2001:db8:0::1", 1, "[2001:db8::1]:1"),
    ],
)
def test_with_port_brackets_ipv6(host, port, shown):
    assert with_port(host, port) == shown


# The limit key --------------------------------------------------------------------------


def test_one_64_is_one_key_and_another_64_is_another():
    one, same = limit_key("2001:db8:1:2::1"), limit_key("2001:db8:1:2:ffff:ffff:ffff:ffff")
    assert one == same == "2001:db8:1:2::/64"
    assert limit_key("2001:db8:1:3::1") == "2001:db8:1:3::/64"


def test_the_prefix_length_is_the_callers():
    assert limit_key("2001:db8:1:2::1", 128) == "2001:db8:1:2::1/128"
    assert limit_key("2001:db8:1:2::1", 128) != limit_key("2001:db8:1:2::2", 128)
    assert limit_key("2001:db8:1:2::1", 48) == limit_key("2001:db8:1:ffff::1", 48)
    assert limit_key("2001:db8:1::1", 48) != limit_key("2001:db8:2::1", 48)


def test_link_local_scopes_are_one_host():
    assert limit_key("fe80::1%eth0") == limit_key("fe80::2%eth1") == "fe80::/64"


@given(st.ip_addresses(v=6), st.integers(16, 128), st.integers(0, 127))
def test_two_addresses_share_a_key_exactly_when_they_share_the_prefix(addr, bits, flip):
    other = ipaddress.IPv6Address(int(addr) ^ (1 << flip))
    assume(addr.ipv4_mapped is None and other.ipv4_mapped is None)
    in_the_host_part = flip < 128 - bits
    assert (limit_key(str(addr), bits) == limit_key(str(other), bits)) is in_the_host_part
    assert limit_key(str(addr), bits) == str(ipaddress.ip_network(f"{addr}/{bits}", False))


# Overlapping listeners ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "overlap"),
    [
        ("127.0.0.1", "::1", False),
        ("127.0.0.1", "127.0.0.2", False),
        ("::1", "::2", False),
        ("127.0.0.1", "127.0.0.1", True),
        ("::1", "0:0::1", True),
        ("::", "127.0.0.1", True),
        ("::", "::1", True),
        ("::", "0.0.0.0", True),
        ("0.0.0.0", "127.0.0.1", True),
        ("0.0.0.0", "::1", False),
        ("::ffff:127.0.0.1", "127.0.0.1", True),
        ("fe80::1%lo", "fe80::1%lo", True),
        ("fe80::1%lo", "fe80::1%eth0", False),
    ],
)
def test_two_listeners_of_one_port_overlap(a, b, overlap):
    assert first_overlap([a, b]) == ((1, 0) if overlap else None)
    assert first_overlap([b, a]) == ((1, 0) if overlap else None)


def test_the_overlap_named_is_the_first_listener_taken():
    assert first_overlap(["127.0.0.1", "::1", "10.0.0.1", "0.0.0.0"]) == (3, 0)
    assert first_overlap(["::1", "10.0.0.1", "::"]) == (2, 0)
    assert first_overlap(["::1", "10.0.0.1", "10.0.0.2", "10.0.0.1"]) == (3, 1)


# The chat counts by the key -------------------------------------------------------------


def _chat(**settings: int) -> Chat:
    return Chat(CoreSettings(max_clients=100, max_clients_per_ip=1, **settings))


def _connect(chat: Chat, uid: str, label: str) -> list[o.Outcome]:
    return chat.apply(i.Connect(uid, label, "line"))


def test_two_addresses_in_one_64_share_a_count():
    chat = _chat()
    assert _connect(chat, "0:1", "2001:db8:1:2::1") == [o.Welcomed("0:1", "guest1")]
    assert _connect(chat, "0:2", "2001:db8:1:2::99") == [o.Refused("0:2", "per_ip")]
    assert _connect(chat, "0:3", "2001:db8:1:3::1") == [o.Welcomed("0:3", "guest2")]


def test_a_departure_frees_its_64():
    chat = _chat()
    _connect(chat, "0:1", "2001:db8::1")
    chat.apply(i.Disconnect("0:1", "bye"))
    assert chat.per_ip == {}
    assert _connect(chat, "0:2", "2001:db8::2") == [o.Welcomed("0:2", "guest2")]


def test_the_prefix_length_is_a_setting():
    chat = _chat(ipv6_prefix_length=128)
    _connect(chat, "0:1", "2001:db8::1")
    assert _connect(chat, "0:2", "2001:db8::2") == [o.Welcomed("0:2", "guest2")]
    assert _connect(chat, "0:3", "2001:db8::2") == [o.Refused("0:3", "per_ip")]


def test_a_mapped_address_counts_with_its_ipv4_address():
    chat = _chat()
    _connect(chat, "0:1", "127.0.0.1")
    assert _connect(chat, "0:2", "::ffff:127.0.0.1") == [o.Refused("0:2", "per_ip")]


def test_a_new_prefix_length_recounts_the_users_connected():
    chat = _chat(ipv6_prefix_length=128)
    _connect(chat, "0:1", "2001:db8::1")
    _connect(chat, "0:2", "2001:db8::2")
    chat.apply(i.Settings({"ipv6_prefix_length": 64}))
    assert chat.per_ip == {"2001:db8::/64": 2}
    for uid in ("0:1", "0:2"):
        chat.apply(i.Disconnect(uid, "bye"))
    assert chat.per_ip == {}


def test_a_snapshot_restores_the_counts_by_prefix():
    chat = _chat(ipv6_prefix_length=128)
    _connect(chat, "0:1", "2001:db8::1")
    chat.apply(i.Settings({"ipv6_prefix_length": 64, "max_clients_per_ip": 2}))
    _connect(chat, "0:2", "2001:db8::2")
    copy = Chat()
    copy.restore(chat.snapshot())
    assert copy.per_ip == {"2001:db8::/64": 2}
    assert _connect(copy, "0:3", "2001:db8::3") == [o.Refused("0:3", "per_ip")]


# The config key -------------------------------------------------------------------------


def test_the_prefix_length_defaults_to_64_and_reaches_the_chat(tmp_path):
    from chatd.server import chat_settings

    assert cfg.Config().ipv6_prefix_length == 64
    path = tmp_path / "chatd.yaml"
    path.write_text("ipv6_prefix_length: 56\n")
    assert chat_settings(cfg.load(str(path))).ipv6_prefix_length == 56


@pytest.mark.parametrize("value", [15, 129, 64.5, "64", None])
def test_a_bad_prefix_length_names_the_key_and_the_file(tmp_path, value):
    path = tmp_path / "chatd.yaml"
    path.write_text(f"ipv6_prefix_length: {'null' if value is None else repr(value)}\n")
    with pytest.raises(cfg.ConfigError) as caught:
        cfg.load(str(path))
    assert str(caught.value).startswith(f"{path}: ipv6_prefix_length: ")


def test_check_config_exits_78_for_a_bad_prefix_length(tmp_path, capsys):
    from chatd import cli

    path = tmp_path / "chatd.yaml"
    path.write_text("ipv6_prefix_length: 200\n")
    assert cli.main(["--check-config", "--config", str(path)]) == 78
    assert f"{path}: ipv6_prefix_length: " in capsys.readouterr().err


def _listen(tmp_path, *entries: str) -> str:
    path = tmp_path / "chatd.yaml"
    path.write_text("listen:\n" + "".join(f"  - {{{e}}}\n" for e in entries))
    return str(path)


def test_one_port_on_two_families_is_two_listeners(tmp_path):
    path = _listen(
        tmp_path,
        "protocol: line, bind: 127.0.0.1, port: 5000",
        "protocol: line, bind: '::1', port: 5000",
        "protocol: irc, bind: '::1', port: 6667",
    )
    assert len(cfg.load(path).listeners()) == 3


@pytest.mark.parametrize(
    ("first", "second"),
    [("'::'", "127.0.0.1"), ("127.0.0.1", "'::'"), ("'::'", "'::1'"), ("0.0.0.0", "127.0.0.1")],
)
def test_overlapping_listeners_of_one_port_are_a_config_error(tmp_path, first, second):
    path = _listen(
        tmp_path,
        f"protocol: line, bind: {first}, port: 5000",
        "protocol: irc, bind: '::1', port: 6667",
        f"protocol: irc, bind: {second}, port: 5000",
    )
    with pytest.raises(cfg.ConfigError) as caught:
        cfg.load(path)
    message, a, b = str(caught.value), first.strip("'"), second.strip("'")
    expected = f"{path}: listen[2]: {b} port 5000 overlaps listen[0]'s {a} port 5000 "
    assert message.startswith(expected), message


def test_check_config_exits_78_for_overlapping_listeners(tmp_path, capsys):
    from chatd import cli

    path = _listen(
        tmp_path,
        "protocol: line, bind: '::', port: 5000",
        "protocol: irc, bind: 0.0.0.0, port: 5000",
    )
    assert cli.main(["--check-config", "--config", path]) == 78
    assert (
        f"{path}: listen[1]: 0.0.0.0 port 5000 overlaps listen[0]'s :: " in capsys.readouterr().err
    )


# The acceptor hands the server the normal form ------------------------------------------


needs_ipv6 = pytest.mark.skipif(not has_ipv6_loopback(), reason="no IPv6 loopback (::1)")


@needs_ipv6
@pytest.mark.parametrize(("client", "shown"), [("127.0.0.1", "127.0.0.1"), ("::1", "::1")])
def test_a_dual_stack_listener_hands_over_the_normal_form(client, shown):
    from chatd.acceptor import Acceptor
    from chatd.loop import Loop
    from chatd.sockets import open_listener

    adopted: list[tuple[str, str]] = []
    listener = open_listener("::", 0)
    acceptor = Acceptor(
        Loop(), lambda sock, ip, protocol, tls: adopted.append((ip, protocol)), lambda: 0
    )
    acceptor.replace([listener])
    try:
        port = listener.getsockname()[1]
        with socket.create_connection((client, port), timeout=5):
            select.select([listener], [], [], 5)  # the kernel completed the handshake
            acceptor._accept(listener)
    finally:
        acceptor.replace([])
    assert adopted == [(shown, "line")]


# IRC shows an IPv6 host that starts with ':' the way ircds do ---------------------------


def test_who_and_whois_show_an_ipv6_host_as_a_word():
    from ircmem import IrcClient, IrcWorld

    w = IrcWorld()
    a = IrcClient(w, "::1")
    a.line("NICK alice")
    a.line("USER a 0 * :Alice")
    a.take()
    a.line("WHOIS alice")
    assert a.take()[0] == ":chatd.test 311 alice alice ~a 0::1 * Alice"
    a.line("WHO alice")
    assert a.take()[0] == ":chatd.test 352 alice * ~a 0::1 chatd.test alice H :0 Alice"
    assert irc_host("2001:db8::1") == "2001:db8::1" and irc_host("::1") == "0::1"
