"""The port helpers the subprocess tests use: a port named before its server binds it must not be one the OS can hand
to anyone else in the meantime (loaded run 1 of series D, 435e2e7: the twins of a user's project could not bind a port
of their range, taken between the check and the bind)."""

from __future__ import annotations

import socket

from ports import dead_url, ephemeral_low, free_base_port


def test_a_free_base_port_lies_below_the_ephemeral_range() -> None:
    low = ephemeral_low()
    for _ in range(20):
        base = free_base_port()
        assert base >= 1024 and base + 6 <= low, (base, low)


def test_the_ports_of_a_free_base_port_can_be_bound() -> None:
    base = free_base_port(3)
    socks = [socket.socket() for _ in range(3)]
    try:
        for i, s in enumerate(socks):
            s.bind(("127.0.0.1", base + i))
    finally:
        for s in socks:
            s.close()


def test_a_dead_url_refuses_connections() -> None:
    url = dead_url()
    port = int(url.rsplit(":", 1)[1])
    assert port < ephemeral_low()
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0
