"""Loopback ports for tests that must name a port before a server binds it (a subprocess's twins, a dead Hub).

A port the OS hands out for ``bind(port 0)`` lies in its ephemeral range, which every outgoing connection and every
``--port 0`` server of the other test worker draws from: between the check here and the server's bind (a
subprocess starting, seconds on a loaded machine) the OS can give that port to someone else (loaded run 1 of series
D, 435e2e7: "port 34388 ... is already in use"). These helpers pick ports below that range, which the OS never
assigns on its own; the choice is random (SystemRandom: pytest plugins reseed ``random``) and checked by binding.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

_PICK = random.SystemRandom()
LOWEST = 20000


def ephemeral_low() -> int:
    """The first port of the range the OS hands out for port 0 and for outgoing connections (Linux; else its
    default)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_base_port(count: int = 6) -> int:
    """A base port with ``count`` free ports after it, all below the ephemeral range (the twins use port ..
    port + 5)."""
    top = ephemeral_low() - count
    low = LOWEST if top - LOWEST >= 1000 else 1024
    for _ in range(200):
        base = _PICK.randrange(low, top)
        socks: list[socket.socket] = []
        try:
            for p in range(base, base + count):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", p))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError(f"no {count} free ports in {low}..{top + count}")


def dead_url() -> str:
    """A loopback URL nothing listens on (connections are refused), below the ephemeral range so that no
    ``--port 0`` server or outgoing connection takes its port meanwhile."""
    return f"http://127.0.0.1:{free_base_port(1)}"
