"""chatd: a chat-room daemon that any raw TCP client can use."""

__version__ = "0.1.0"
