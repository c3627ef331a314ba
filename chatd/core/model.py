"""Users and rooms as the chat keeps them, and ban masks (nick!user@host)."""

from __future__ import annotations

from .masks import mask_matches

OP = 1
VOICE = 2
ROOM_FLAGS = "imnst"  # the room modes without an argument
TOPIC_LEN = 300  # characters of a topic kept
NEW_ROOM_MODES = "n"  # no messages from outside; the topic stays anyone's (no +t)


class User:
    """One connected user, in every replica; ``rooms`` in the order it joined them."""

    __slots__ = ("id", "nick", "label", "protocol", "lobby", "rooms", "invisible", "away", "ident")

    def __init__(self, id: str, label: str, protocol: str, lobby: bool, ident: str = "") -> None:
        self.id = id
        self.nick = ""
        self.label = label  # where the user connects from: its host in a mask
        self.protocol = protocol
        self.lobby = lobby  # it always has a room: a kick sends it to the default one
        self.rooms: dict[Room, None] = {}
        self.invisible = False
        self.away: str | None = None
        self.ident = ident or protocol  # the user part of its mask: nick!ident@label

    def current(self) -> Room | None:
        """The room it joined last (a line user's only room)."""
        return next(reversed(self.rooms), None) if self.rooms else None

    def mask(self) -> str:
        # The protocol stands in for the user name that only IRC has.
        return f"{self.nick}!{self.protocol}@{self.label}"

    def __repr__(self) -> str:
        return f"<User {self.id} {self.nick}>"


class Room:
    __slots__ = (
        "name",
        "members",
        "topic",
        "topic_by",
        "topic_at",
        "flags",
        "key",
        "limit",
        "bans",
        "invited",
        "created",
        "roster",
    )

    def __init__(self, name: str) -> None:
        self.name = name
        # A dict: O(1) leave in a big room, and join order kept for /who.  Value: OP|VOICE.
        self.members: dict[User, int] = {}
        # names() of the members, kept while only joins change it (a join storm of N users
        # then costs N tuple copies in C, not N² steps in Python); None: to be made again.
        self.roster: tuple[tuple[str, str], ...] | None = None
        self.topic = ""
        self.topic_by = ""
        self.topic_at = 0.0
        self.flags = NEW_ROOM_MODES
        self.key = ""
        self.limit = 0  # 0: none
        self.bans: list[str] = []
        self.invited: set[str] = set()  # user ids, until they join
        self.created = 0.0  # seconds since the epoch by its creator's clock; 0: unknown

    def modes(self, show_key: bool) -> tuple[str, tuple[str, ...]]:
        letters, args = "+" + "".join(sorted(self.flags)), []
        if self.key:
            letters += "k"
            args.append(self.key if show_key else "*")
        if self.limit:
            letters += "l"
            args.append(str(self.limit))
        return letters, tuple(args)

    def banned(self, user: User) -> bool:
        if not self.bans:
            return False
        mask = user.mask()
        return any(mask_matches(ban, mask) for ban in self.bans)

    def prefix(self, user: User) -> str:
        flags = self.members.get(user, 0)
        return "@" if flags & OP else "+" if flags & VOICE else ""

    def __repr__(self) -> str:
        return f"<Room {self.name} {len(self.members)}>"
