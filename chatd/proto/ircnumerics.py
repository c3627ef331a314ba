"""IRC replies: the numerics chatd sends, named and worded as Modern IRC lists them, and
the builders that fit replies and relayed text into 512-byte lines.

Each constant is the three-digit code as it goes on the wire.  TEXT holds the standard
last parameter of the replies whose last parameter is fixed; ``numeric`` appends it unless
told otherwise.  Replies whose last parameter carries data (a topic, a list of names) or a
template (noted beside them) have no entry: the caller gives that text.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

from chatd.proto.ircwire import MAX_LINE, Message, render

# Registration and the welcome burst.
RPL_WELCOME: Final = "001"  # "Welcome to the <network> Network, <nick>[!<user>@<host>]"
RPL_YOURHOST: Final = "002"  # "Your host is <servername>, running version <version>"
RPL_CREATED: Final = "003"  # "This server was created <datetime>"
RPL_MYINFO: Final = "004"  # <servername> <version> <user modes> <channel modes> [<with param>]
RPL_ISUPPORT: Final = "005"  # <tokens> "are supported by this server"
RPL_UMODEIS: Final = "221"  # <user modes>

# LUSERS.
RPL_LUSERCLIENT: Final = "251"  # "There are <u> users and <i> invisible on <s> servers"
RPL_LUSEROP: Final = "252"  # <ops>
RPL_LUSERUNKNOWN: Final = "253"  # <connections>
RPL_LUSERCHANNELS: Final = "254"  # <channels>
RPL_LUSERME: Final = "255"  # "I have <c> clients and <s> servers"
RPL_LOCALUSERS: Final = "265"  # [<u> <m>] "Current local users <u>, max <m>"
RPL_GLOBALUSERS: Final = "266"  # [<u> <m>] "Current global users <u>, max <m>"

# Away, user queries.
RPL_AWAY: Final = "301"  # <nick> <message>
RPL_USERHOST: Final = "302"  # "<reply>{ <reply>}"
RPL_ISON: Final = "303"  # "<nick>{ <nick>}"
RPL_UNAWAY: Final = "305"
RPL_NOWAWAY: Final = "306"
RPL_WHOISUSER: Final = "311"  # <nick> <username> <host> * <realname>
RPL_WHOISSERVER: Final = "312"  # <nick> <server> <server info>
RPL_WHOISOPERATOR: Final = "313"  # <nick>
RPL_ENDOFWHO: Final = "315"  # <mask>
RPL_WHOISIDLE: Final = "317"  # <nick> <secs> <signon>
RPL_ENDOFWHOIS: Final = "318"  # <nick>
RPL_WHOISCHANNELS: Final = "319"  # <nick> "[prefix]<channel>{ [prefix]<channel>}"

# Channels.
RPL_LISTSTART: Final = "321"  # "Channel"
RPL_LIST: Final = "322"  # <channel> <client count> <topic>
RPL_LISTEND: Final = "323"
RPL_CHANNELMODEIS: Final = "324"  # <channel> <modestring> <mode arguments>...
RPL_CREATIONTIME: Final = "329"  # <channel> <creationtime>
RPL_NOTOPIC: Final = "331"  # <channel>
RPL_TOPIC: Final = "332"  # <channel> <topic>
RPL_TOPICWHOTIME: Final = "333"  # <channel> <nick> <setat>
RPL_INVITING: Final = "341"  # <nick> <channel>
RPL_WHOREPLY: Final = "352"  # <channel> <user> <host> <server> <nick> <flags> "<hops> <realname>"
RPL_NAMREPLY: Final = "353"  # <symbol> <channel> "[prefix]<nick>{ [prefix]<nick>}"
RPL_ENDOFNAMES: Final = "366"  # <channel>
RPL_BANLIST: Final = "367"  # <channel> <mask> [<who> <set-ts>]
RPL_ENDOFBANLIST: Final = "368"  # <channel>

# The message of the day.
RPL_MOTD: Final = "372"  # "<line of the motd>"
RPL_MOTDSTART: Final = "375"  # "- <server> Message of the day - "
RPL_ENDOFMOTD: Final = "376"

# Errors.
ERR_UNKNOWNERROR: Final = "400"  # <command>{ <subcommand>} <info>
ERR_NOSUCHNICK: Final = "401"  # <nickname>
ERR_NOSUCHSERVER: Final = "402"  # <server name>
ERR_NOSUCHCHANNEL: Final = "403"  # <channel>
ERR_CANNOTSENDTOCHAN: Final = "404"  # <channel>
ERR_TOOMANYCHANNELS: Final = "405"  # <channel>
ERR_NOORIGIN: Final = "409"
ERR_INVALIDCAPCMD: Final = "410"  # <subcommand> (IRCv3 capability negotiation)
ERR_NORECIPIENT: Final = "411"  # "No recipient given (<command>)"
ERR_NOTEXTTOSEND: Final = "412"
ERR_INPUTTOOLONG: Final = "417"
ERR_UNKNOWNCOMMAND: Final = "421"  # <command>
ERR_NOMOTD: Final = "422"
ERR_NONICKNAMEGIVEN: Final = "431"
ERR_ERRONEUSNICKNAME: Final = "432"  # <nick>
ERR_NICKNAMEINUSE: Final = "433"  # <nick>
ERR_NICKCOLLISION: Final = "436"  # <nick> "Nickname collision KILL from <user>@<host>"
ERR_USERNOTINCHANNEL: Final = "441"  # <nick> <channel>
ERR_NOTONCHANNEL: Final = "442"  # <channel>
ERR_USERONCHANNEL: Final = "443"  # <nick> <channel>
ERR_NOTREGISTERED: Final = "451"
ERR_NEEDMOREPARAMS: Final = "461"  # <command>
ERR_ALREADYREGISTERED: Final = "462"
ERR_PASSWDMISMATCH: Final = "464"
ERR_CHANNELISFULL: Final = "471"  # <channel>
ERR_UNKNOWNMODE: Final = "472"  # <modechar>
ERR_INVITEONLYCHAN: Final = "473"  # <channel>
ERR_BANNEDFROMCHAN: Final = "474"  # <channel>
ERR_BADCHANNELKEY: Final = "475"  # <channel>
ERR_BADCHANMASK: Final = "476"  # <channel>
ERR_NOCHANMODES: Final = "477"  # <channel>; RFC 2812 (Modern IRC leaves 477 out)
ERR_NOPRIVILEGES: Final = "481"
ERR_CHANOPRIVSNEEDED: Final = "482"  # <channel>
ERR_UMODEUNKNOWNFLAG: Final = "501"
ERR_USERSDONTMATCH: Final = "502"
ERR_INVALIDKEY: Final = "525"  # <channel>
ERR_INVALIDMODEPARAM: Final = "696"  # <target> <mode char> <parameter> <description>

TEXT: Final[dict[str, str]] = {
    RPL_ISUPPORT: "are supported by this server",
    RPL_LUSEROP: "operator(s) online",
    RPL_LUSERUNKNOWN: "unknown connection(s)",
    RPL_LUSERCHANNELS: "channels formed",
    RPL_UNAWAY: "You are no longer marked as being away",
    RPL_NOWAWAY: "You have been marked as being away",
    RPL_WHOISOPERATOR: "is an IRC operator",
    RPL_ENDOFWHO: "End of WHO list",
    RPL_WHOISIDLE: "seconds idle, signon time",
    RPL_ENDOFWHOIS: "End of /WHOIS list",
    RPL_LISTSTART: "Users  Name",
    RPL_LISTEND: "End of /LIST",
    RPL_NOTOPIC: "No topic is set",
    RPL_ENDOFNAMES: "End of /NAMES list",
    RPL_ENDOFBANLIST: "End of channel ban list",
    RPL_ENDOFMOTD: "End of /MOTD command.",
    ERR_NOSUCHNICK: "No such nick/channel",
    ERR_NOSUCHSERVER: "No such server",
    ERR_NOSUCHCHANNEL: "No such channel",
    ERR_CANNOTSENDTOCHAN: "Cannot send to channel",
    ERR_TOOMANYCHANNELS: "You have joined too many channels",
    ERR_NOORIGIN: "No origin specified",
    ERR_INVALIDCAPCMD: "Invalid CAP command",
    ERR_NOTEXTTOSEND: "No text to send",
    ERR_INPUTTOOLONG: "Input line was too long",
    ERR_UNKNOWNCOMMAND: "Unknown command",
    ERR_NOMOTD: "MOTD File is missing",
    ERR_NONICKNAMEGIVEN: "No nickname given",
    ERR_ERRONEUSNICKNAME: "Erroneus nickname",  # sic: the traditional spelling
    ERR_NICKNAMEINUSE: "Nickname is already in use",
    ERR_USERNOTINCHANNEL: "They aren't on that channel",
    ERR_NOTONCHANNEL: "You're not on that channel",
    ERR_USERONCHANNEL: "is already on channel",
    ERR_NOTREGISTERED: "You have not registered",
    ERR_NEEDMOREPARAMS: "Not enough parameters",
    ERR_ALREADYREGISTERED: "You may not reregister",
    ERR_PASSWDMISMATCH: "Password incorrect",
    ERR_CHANNELISFULL: "Cannot join channel (+l)",
    ERR_UNKNOWNMODE: "is unknown mode char to me",
    ERR_INVITEONLYCHAN: "Cannot join channel (+i)",
    ERR_BANNEDFROMCHAN: "Cannot join channel (+b)",
    ERR_BADCHANNELKEY: "Cannot join channel (+k)",
    ERR_BADCHANMASK: "Bad Channel Mask",
    ERR_NOCHANMODES: "Channel doesn't support modes",
    ERR_NOPRIVILEGES: "Permission Denied- You're not an IRC operator",
    ERR_CHANOPRIVSNEEDED: "You're not channel operator",
    ERR_UMODEUNKNOWNFLAG: "Unknown MODE flag",
    ERR_USERSDONTMATCH: "Cant change mode for other users",
    ERR_INVALIDKEY: "Key is not well-formed",
}


# Building replies ----------------------------------------------------------------------


def numeric(server: str, code: str, target: str, *params: str, text: str | None = None) -> Message:
    """A numeric reply from ``server`` to ``target`` ("*" before a nick is known); its last
    parameter is ``text``, or the standard text of ``code`` when it has one."""
    last = TEXT.get(code) if text is None else text
    return Message(code, (target, *params) if last is None else (target, *params, last), server)


def _with_last(head: Message, last: str) -> Message:
    return Message(head.command, (*head.params, last), head.source, head.tags)


def split_text(
    head: Message, text: str, *, prefix: str = "", suffix: str = "", limit: int = MAX_LINE
) -> list[Message]:
    """``head`` with ``prefix + piece + suffix`` as its last parameter, for pieces of text
    that make each line at most ``limit`` bytes: cut after a space in the second half of a
    piece if there is one, never inside a character.  The pieces joined are the text."""
    base = len(render(_with_last(head, ""))) + len((prefix + suffix).encode())
    room = limit - base
    if room < 4:  # the longest UTF-8 character
        raise ValueError(f"no room for text in a line of {limit} bytes after {head!r}")
    data = text.encode()
    pieces = []
    start = 0
    while len(data) - start > room:
        cut = start + room
        while data[cut] & 0xC0 == 0x80:  # data[cut] would start the next piece: not mid-char
            cut -= 1
        space = data.rfind(b" ", start + room // 2, cut)
        if space >= 0:
            cut = space + 1
        pieces.append(data[start:cut])
        start = cut
    pieces.append(data[start:])
    return [_with_last(head, prefix + piece.decode() + suffix) for piece in pieces]


def pack_words(head: Message, words: Iterable[str], *, limit: int = MAX_LINE) -> list[Message]:
    """``head`` with a space-separated run of words as its last parameter, as many words a
    line as fit in ``limit`` bytes (NAMES, WHOIS channels); no words, no messages."""
    room = limit - len(render(_with_last(head, "")))
    out: list[Message] = []
    line: list[str] = []
    used = 0
    for word in words:
        size = len(word.encode())
        if size > room:
            raise ValueError(f"{word!r} cannot fit in a line of {limit} bytes after {head!r}")
        if line and used + 1 + size > room:
            out.append(_with_last(head, " ".join(line)))
            line, used = [], 0
        used += size + (1 if line else 0)
        line.append(word)
    if line:
        out.append(_with_last(head, " ".join(line)))
    return out


def isupport(
    server: str,
    nick: str,
    tokens: Mapping[str, str | int | None],
    *,
    per_line: int = 13,
    limit: int = MAX_LINE,
) -> list[Message]:
    """The RPL_ISUPPORT (005) replies that advertise ``tokens``: NAME=value, or NAME alone
    for None or "", at most ``per_line`` tokens and ``limit`` bytes a line."""
    words = []
    for name, value in tokens.items():
        if not (name.isascii() and name.isalnum()):
            raise ValueError(f"bad ISUPPORT token name: {name!r}")
        value = "" if value is None else str(value)
        escaped = value.replace("\\", "\\x5C").replace(" ", "\\x20")
        words.append(f"{name}={escaped}" if escaped else name)
    base = len(render(numeric(server, RPL_ISUPPORT, nick)))
    out: list[Message] = []
    line: list[str] = []
    size = base
    for word in words:
        cost = 1 + len(word.encode())
        if base + cost > limit:
            raise ValueError(f"ISUPPORT token cannot fit in a line: {word!r}")
        if line and (len(line) == per_line or size + cost > limit):
            out.append(numeric(server, RPL_ISUPPORT, nick, *line))
            line, size = [], base
        line.append(word)
        size += cost
    if line:
        out.append(numeric(server, RPL_ISUPPORT, nick, *line))
    return out
