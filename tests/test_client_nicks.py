"""chatd-client's idea of the room, and Tab completion, in memory."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from prompt_toolkit.buffer import Buffer
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document
from prompt_toolkit.keys import Keys

from chatd.clientnicks import ChatCompleter, Roster
from chatd.clientterm import cycling_tab_keys

GREETING = [
    "*** Welcome to host (chatd 0.1.0)",
    "*** You are welcome here",  # a motd line that looks like the nick line
    "*** Type /help for the commands, /nick NAME to pick a nick.",
    "*** You are guest3",
    "*** You joined #lobby (3 users: alice, Bob, guest3)",
]


def roster(*lines: str) -> Roster:
    r = Roster()
    for line in (*GREETING, *lines):
        r.observe(line)
    return r


def completions(r: Roster, text: str) -> list[str]:
    found = ChatCompleter(r).get_completions(
        Document(text), CompleteEvent(completion_requested=True)
    )
    return [c.text for c in found]


def test_the_greeting_gives_nick_room_and_members():
    r = roster()
    assert (r.nick, r.room) == ("guest3", "#lobby")
    assert r.members() == ["Bob", "alice"]  # the latest to join first; not me


def test_joins_leaves_renames_and_who_keep_the_members():
    r = roster(
        "*** carol joined #lobby",
        "*** alice left #lobby (quit)",
        "*** Bob is now known as robert",
        "*** dave joined #other",  # not our room
    )
    assert r.members() == ["robert", "carol"]
    r.observe("*** 3 users in #lobby: erin, frank, guest3")
    assert r.members() == ["frank", "erin"]


def test_who_speaks_comes_first():
    r = roster("<alice> hi")
    assert r.members() == ["alice", "Bob"]
    r.observe("* Bob waves")
    assert r.members() == ["Bob", "alice"]


def test_relayed_text_cannot_pass_for_a_notice():
    r = roster("<alice> *** mallory joined #lobby", "<alice> *** You are now root")
    assert "mallory" not in r.members()
    assert r.nick == "guest3"


def test_own_nick_and_room_follow_the_server():
    r = roster("*** You are now zed", "*** You joined #den (2 users: ann, zed)")
    assert (r.nick, r.room) == ("zed", "#den")
    assert r.members() == ["ann"]
    assert not r.is_guest()
    assert roster().is_guest()


def test_a_nick_called_you_joining_is_a_join():
    r = roster("*** You joined #lobby")
    assert r.room == "#lobby" and "You" in r.members()


def test_nicks_complete_ignoring_case():
    r = roster("*** carol joined #lobby")
    assert completions(r, "CAR") == ["carol: "]  # at the start: addressed
    assert completions(r, "hello b") == ["hello Bob "[len("hello ") :]]
    assert completions(r, "/msg al") == ["alice "]
    assert completions(r, "zz") == []


def test_commands_complete_at_the_start_only():
    r = roster()
    assert completions(r, "/j") == ["/join "]
    assert completions(r, "/M") == ["/me ", "/msg "]
    assert completions(r, "say /j") == []


def test_tab_completes_at_once_then_cycles_and_shift_tab_goes_back():
    asyncio.run(_cycle())


async def _cycle() -> None:
    r = roster("*** alan joined #lobby")
    buffer = Buffer(completer=ChatCompleter(r), complete_while_typing=False)
    buffer.insert_text("a")
    keys = {b.keys[0]: b.handler for b in cycling_tab_keys().bindings}
    event = SimpleNamespace(current_buffer=buffer)
    seen = []
    for key in (Keys.Tab, Keys.Tab, Keys.Tab, Keys.BackTab):
        keys[key](event)
        for _ in range(100):  # the completer runs as a task of the loop
            if buffer.complete_state is not None:
                break
            await asyncio.sleep(0)
        seen.append(buffer.text)
    assert seen == ["alan: ", "alice: ", "a", "alice: "]


def test_msg_completes_whom_we_exchanged_private_messages_with_first():
    r = roster("*dora* psst", "-> *alfred* hi", "*** You are now guest3")
    assert completions(r, "/msg ") == ["alfred ", "dora ", "Bob ", "alice "]
    assert completions(r, "/msg a") == ["alfred ", "alice "]
    assert completions(r, "/msg alice d") == []  # the text, not the nick: the room only
    assert completions(r, "d") == []  # outside /msg, the room only
