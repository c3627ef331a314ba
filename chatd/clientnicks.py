"""What chatd-client knows about the room: the user's nick, the room, who is in it.

Learnt only from server notices (lines starting `*** `, which relayed text can never
start) and from who speaks; it feeds Tab completion and the restore after a reconnect.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document

from .clientview import Kind, classify

COMMANDS = ("/help", "/join", "/me", "/msg", "/nick", "/quit", "/rooms", "/who")
GUEST = re.compile(r"guest\d+", re.I)

_N = r"[A-Za-z][A-Za-z0-9_-]{0,23}"
_R = r"#[A-Za-z][A-Za-z0-9_-]{0,31}"
_YOU_ARE = re.compile(rf"You are (?:now )?({_N})")
_YOU_JOINED = re.compile(rf"You joined ({_R}) \(\d+ users?: (.*)\)")
_WHO = re.compile(rf"\d+ users? in ({_R}): (.*)")
_JOINED = re.compile(rf"({_N}) joined ({_R})")
_LEFT = re.compile(rf"({_N}) left ({_R}) \(.*\)")
_RENAMED = re.compile(rf"({_N}) is now known as ({_N})")


class Roster:
    """The user's nick and room, and the room's members, the most recently active last."""

    def __init__(self) -> None:
        self.nick = ""
        self.room = ""
        self._members: dict[str, str] = {}  # by nick.lower(), in order of activity
        self._private: dict[str, str] = {}  # who we exchanged private messages with

    def observe(self, line: str) -> None:
        parsed = classify(line)
        if parsed.kind in (Kind.CHAT, Kind.ACTION):
            self._touch(parsed.nick)
        elif parsed.kind in (Kind.PRIVATE, Kind.SENT_PRIVATE):
            self._private.pop(parsed.nick.lower(), None)
            self._private[parsed.nick.lower()] = parsed.nick
        elif parsed.kind is Kind.NOTICE:
            self._notice(parsed.text)

    def _notice(self, text: str) -> None:
        if match := _YOU_ARE.fullmatch(text):
            self.nick = match.group(1)
        elif match := _YOU_JOINED.fullmatch(text):
            self.room = match.group(1)
            self._reset(match.group(2))
        elif match := _WHO.fullmatch(text):
            if match.group(1).lower() == self.room.lower():
                self._reset(match.group(2))
        elif match := _RENAMED.fullmatch(text):
            old, new = match.groups()
            self._members.pop(old.lower(), None)
            self._touch(new)
        elif match := _LEFT.fullmatch(text):
            self._members.pop(match.group(1).lower(), None)
        elif (match := _JOINED.fullmatch(text)) and match.group(2).lower() == self.room.lower():
            self._touch(match.group(1))

    def _reset(self, names: str) -> None:
        self._members = {}
        for name in names.split(", "):
            self._touch(name)

    def _touch(self, nick: str) -> None:
        self._members.pop(nick.lower(), None)
        self._members[nick.lower()] = nick

    def members(self) -> list[str]:
        """Everyone else in the room, the most recently active first."""
        return [n for key, n in reversed(self._members.items()) if key != self.nick.lower()]

    def matching(self, prefix: str, private: bool = False) -> list[str]:
        """Nicks that start with prefix; private: those we messaged first, then the room."""
        folded = prefix.lower()
        names = self.members()
        if private:
            recent = list(reversed(self._private.values()))
            names = recent + [n for n in names if n.lower() not in self._private]
        return [n for n in names if n.lower().startswith(folded)]

    def is_guest(self) -> bool:
        return not self.nick or GUEST.fullmatch(self.nick) is not None


class ChatCompleter(Completer):
    """Commands at the start of the line, nicks anywhere; both ignore case.

    A nick that starts the line gets `: ` after it, the usual way to address someone.
    """

    def __init__(self, roster: Roster) -> None:
        self.roster = roster

    def get_completions(self, document: Document, event: CompleteEvent) -> Iterator[Completion]:
        before = document.text_before_cursor
        word = before.split(" ")[-1]
        at_start = len(word) == len(before)
        if at_start and word.startswith("/"):
            yield from _complete(word, (c for c in COMMANDS if c.startswith(word.lower())), " ")
            return
        suffix = ": " if at_start else " "
        private = before.lower().startswith("/msg ") and before.count(" ") == 1
        yield from _complete(word, self.roster.matching(word, private), suffix)


def _complete(word: str, candidates: Iterable[str], suffix: str) -> Iterator[Completion]:
    for candidate in candidates:
        yield Completion(candidate + suffix, start_position=-len(word), display=candidate)
