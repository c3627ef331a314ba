"""The real chatd on IPv6: '::' serving IPv4 and IPv6 clients on one socket, '::1', a
listen list mixing families on one port, and per-address limits with mapped addresses."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest
from e2e import Chatd, TcpPeer, free_port, has_ipv6_loopback

pytestmark = pytest.mark.skipif(not has_ipv6_loopback(), reason="no IPv6 loopback (::1)")

ADDRESS = re.compile(rb"listening on (.*)")
WHERE = re.compile(rb"(\[[0-9a-f:]+\]|[0-9.]+):(\d+)")  # 127.0.0.1:5000 or [::1]:5000
REFUSED = "*** error: too many connections from your address"


def start(tmp_path: Path, text: str) -> tuple[Chatd, list[int]]:
    """chatd with this config; the ports it listens on, in the order of its log line."""
    config = tmp_path / "chatd.yaml"
    config.write_text(text + "server_name: irc.test\n")
    chatd = Chatd("--config", str(config), any_port=False)
    where = chatd.wait_log(ADDRESS).group(1)
    return chatd, [int(port) for _, port in WHERE.findall(where)]


def dial(host: str, port: int) -> TcpPeer:
    return TcpPeer(socket.create_connection((host, port), timeout=5))


def register(peer: TcpPeer, nick: str) -> None:
    peer.send(f"NICK {nick}", f"USER {nick} 0 * :{nick}")
    peer.until(f":irc.test 422 {nick} ")  # no motd: the burst ends with 422


def connected(chatd: Chatd, nick: str) -> str:
    """Where the log says nick connected from."""
    return chatd.wait_log(re.compile(rf"{nick} connected from (\S+)".encode())).group(1).decode()


@pytest.mark.parametrize("workers", [1, 2])
def test_one_dual_stack_socket_serves_ipv4_and_ipv6_in_one_chat(tmp_path, workers):
    chatd, (line_port, irc_port) = start(
        tmp_path,
        "listen:\n  - {protocol: line, bind: '::', port: 0}\n"
        "  - {protocol: irc, bind: '::', port: 0}\n"
        f"workers: {workers}\n",
    )
    with chatd:
        assert f"[::]:{line_port}, [::]:{irc_port} (irc)".encode() in chatd.log
        four, six = dial("127.0.0.1", line_port), dial("::1", line_port)
        nick4 = four.greeted()
        assert connected(chatd, nick4) == "127.0.0.1"  # not ::ffff:127.0.0.1
        nick6 = six.greeted()
        assert connected(chatd, nick6) == "::1"
        irc6, irc4 = dial("::1", irc_port), dial("127.0.0.1", irc_port)
        register(irc6, "six")
        register(irc4, "four")
        for irc, nick in ((irc6, "six"), (irc4, "four")):
            irc.send("JOIN #lobby")
            irc.until(f":irc.test 366 {nick} #lobby ")
        four.send("hello over IPv4")
        assert six.until("<")[-1] == f"<{nick4}> hello over IPv4"
        assert (
            irc6.until(f":{nick4}!")[-1]
            == f":{nick4}!line@127.0.0.1 PRIVMSG #lobby :hello over IPv4"
        )
        six.send("hello over IPv6")
        assert four.until(f"<{nick6}>")[-1] == f"<{nick6}> hello over IPv6"
        assert irc4.until(f":{nick6}!")[-1] == f":{nick6}!line@::1 PRIVMSG #lobby :hello over IPv6"
        irc4.send("WHOIS six", "WHOIS four")
        assert irc4.until(":irc.test 311 four six ")[-1] == ":irc.test 311 four six ~six 0::1 * six"
        assert irc4.until(":irc.test 311 four four ")[-1].endswith(" ~four 127.0.0.1 * four")
        for peer in (four, six, irc6, irc4):
            peer.close()
        assert chatd.stop() == 0
    assert b"::ffff:" not in chatd.log


def test_bind_ipv6_loopback_serves_ipv6_only(tmp_path):
    chatd, (port,) = start(tmp_path, "bind: '::1'\nport: 0\n")
    with chatd:
        assert f"listening on [::1]:{port} ".encode() in chatd.log
        peer = dial("::1", port)
        assert connected(chatd, peer.greeted()) == "::1"
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
        peer.close()
        assert chatd.stop() == 0


def test_a_listen_list_mixes_families_on_one_port(tmp_path):
    shared = free_port()  # free on 127.0.0.1 a moment ago; ::1 has its own ports
    chatd, ports = start(
        tmp_path,
        f"listen:\n  - {{protocol: line, bind: 127.0.0.1, port: {shared}}}\n"
        f"  - {{protocol: line, bind: '::1', port: {shared}}}\n"
        "  - {protocol: irc, bind: '::1', port: 0}\n",
    )
    with chatd:
        assert ports[:2] == [shared, shared]
        assert f"127.0.0.1:{shared}, [::1]:{shared}, [::1]:{ports[2]} (irc)".encode() in chatd.log
        four, six = dial("127.0.0.1", shared), dial("::1", shared)
        nick4, nick6 = four.greeted(), six.greeted()
        irc = dial("::1", ports[2])
        register(irc, "six")
        irc.send("JOIN #lobby")
        irc.until(":irc.test 366 six #lobby ")
        six.send("one chat")
        assert four.until(f"<{nick6}>")[-1] == f"<{nick6}> one chat"
        assert irc.until(f":{nick6}!")[-1] == f":{nick6}!line@::1 PRIVMSG #lobby :one chat"
        assert connected(chatd, nick4) == "127.0.0.1"
        for peer in (four, six, irc):
            peer.close()
        assert chatd.stop() == 0


def test_per_address_limits_on_a_dual_stack_socket(tmp_path):
    chatd, (port,) = start(tmp_path, "bind: '::'\nport: 0\nmax_clients_per_ip: 1\n")
    with chatd:
        first6 = dial("::1", port)
        first6.greeted()
        second6 = dial("::1", port)
        assert second6.line() == REFUSED
        assert second6.eof()
        chatd.wait_log(b"refused a client from ::1: ")
        # A 127.0.0.1 client arrives as ::ffff:127.0.0.1: its own address, not ::1's.
        first4 = dial("127.0.0.1", port)
        assert connected(chatd, first4.greeted()) == "127.0.0.1"
        second4 = dial("127.0.0.1", port)
        assert second4.line() == REFUSED
        chatd.wait_log(b"refused a client from 127.0.0.1: ")
        for peer in (first6, second6, first4, second4):
            peer.close()
        assert chatd.stop() == 0
    assert b"::ffff:" not in chatd.log
