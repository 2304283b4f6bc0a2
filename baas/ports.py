"""Is the port a server is about to listen on free?

granian binds its socket with SO_REUSEPORT, so a second server started on a port another
one already listens on starts silently and the kernel shares the connections between the
two (two databases answering by turns, two beats). A bind without SO_REUSEPORT is refused
while anything listens there: trying one first tells a busy port apart.
"""

from __future__ import annotations

import errno
import socket


def port_in_use_error(host: str, port: int) -> str | None:
    """One line saying why `host:port` cannot be listened on, or None if it can."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        return f"baas: cannot listen on {host} port {port}: {exc.strerror}"
    with socket.socket(family, kind, proto) as probe:
        # SO_REUSEADDR as every server sets it: a connection of a stopped server still
        # in TIME_WAIT does not count, a listening socket does.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return (
                    f"baas: port {port} is already in use ({host}); stop the server "
                    "listening there or choose another port with --port."
                )
            return f"baas: cannot listen on {host} port {port}: {exc.strerror}"
    return None
