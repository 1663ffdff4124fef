"""What one client may hold of a server on a home network, and for how long: every bound the
server enforces, with its default, in one place (its flags and `docs/server.md` read this)."""

import asyncio
import contextlib
import socket
from dataclasses import dataclass


@dataclass(frozen=True)
class ServerLimits:
    # Open connections, Wyoming and HTTP together; one more is refused at once (an `error`
    # event / 503). Home Assistant opens one per request.
    max_connections: int = 32
    # A Wyoming connection that sends no request (describe or synthesize) for this long is closed.
    idle_timeout: float = 60.0
    # An HTTP connection must send a request's headers within this long of connecting or of its
    # last answer (aiohttp's keep-alive timer), and the body within as long again.
    header_timeout: float = 10.0
    # A client that takes none of its audio for this long is dropped and its engine freed.
    client_timeout: float = 30.0
    # A whole (not streamed) HTTP answer holds its audio until the end: at most this much of it.
    max_whole_seconds: float = 600.0


DEFAULT = ServerLimits()

# The kernel's send buffer of a client's connection: about 1.5 s of 22 kHz speech. Left to grow
# by itself (up to megabytes), it hid for half a minute that a client was reading nothing, while
# the client held an engine; a client that plays as it receives needs far less.
SEND_BUFFER_BYTES = 64 * 1024


def limit_send_buffer(writer: asyncio.StreamWriter | asyncio.BaseTransport) -> None:
    """Cap a connection's send buffer (a unix socket's too); a socket that refuses keeps its own."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER_BYTES)
