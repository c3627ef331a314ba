"""The chat itself, protocol-neutral: typed intents in, typed outcomes out.

No wire text, no bytes, no sockets and no clock: every replica that applies the same
intents in the same order reaches the same state (see bus.py), and each front-end
(chatd.proto) words the outcomes in its own protocol.
"""
