"""Offline, a newcomer is told at once what is wrong and how to work offline (issue 14 §2).

A host that was never reached (a closed loopback port stands for an unreachable huggingface.co or Space host) is
reported within seconds as HostUnreachableError naming the host and suggesting the local twins, instead of being
retried for half a minute. A Hub answer that huggingface_hub cannot read is a HubResponseError, asked once.
(A host that answered before and then drops is still retried: tests/test_faults.py, the fleet stopped mid-job.)
"""

from __future__ import annotations

import http.server
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

import janusflux
from janusflux import HostUnreachableError, HubResponseError, SpaceBusyError, netguard
from ports import dead_url

FAST = 10.0  # seconds: generous for "at once" (the old behaviour took ~30 s of backoff over both mirrors)


def assert_helpful(err: BaseException, host: str) -> None:
    text = str(err)
    assert host in text, text
    assert "--local" in text and "JANUSFLUX_LOCAL=1" in text and "janusflux serve" in text, text


def test_unreachable_hub_fails_fast_naming_the_host(tmp_path):
    hub = dead_url()
    with janusflux.Session(hf_endpoint=hub, token=False, cache_dir=str(tmp_path)) as s:
        started = time.monotonic()
        with pytest.raises(HostUnreachableError) as info:
            s.generate("flux", "a lighthouse", seed=1)
        elapsed = time.monotonic() - started
    err = info.value
    assert elapsed < FAST, elapsed
    assert isinstance(err, SpaceBusyError) and err.host == hub and err.role == "Hub"
    assert err.space_id in ("black-forest-labs/FLUX.1-dev", "roxky/FLUX.1-dev")
    assert "Connection refused" in str(err) and err.__cause__ is not None
    assert_helpful(err, hub)


def test_unreachable_space_host_fails_fast_naming_the_host(fleet, tmp_path):
    """Both mirrors of flux on a dead host (the Hub twin answers): each is tried once, then the error names the
    host, not just the Space id."""
    dead = dead_url()
    urls = {"black-forest-labs/FLUX.1-dev": dead, "roxky/FLUX.1-dev": dead}
    with janusflux.Session(hf_endpoint=fleet.hub_url, space_urls=urls, token=False, cache_dir=str(tmp_path)) as s:
        events: list[str] = []
        started = time.monotonic()
        with pytest.raises(HostUnreachableError) as info:
            for event in s.stream("flux", "a lighthouse", seed=1):
                events.append(event.type)
        elapsed = time.monotonic() - started
    assert elapsed < FAST, elapsed
    assert info.value.host == dead and info.value.role == "Space"
    assert_helpful(info.value, dead)
    assert events.count("fallback") == 1 and "waiting" not in events, events  # the mirror once, no backoff


def test_unreachable_mirror_falls_back_to_the_reachable_one(fleet, tmp_path):
    """One mirror's host is dead: the call goes to the other mirror without waiting."""
    urls = {"black-forest-labs/FLUX.1-dev": dead_url()}
    with janusflux.Session(hf_endpoint=fleet.hub_url, space_urls=urls, token=False, cache_dir=str(tmp_path)) as s:
        result = s.generate("flux", "a lighthouse", seed=3, width=256, height=256, steps=2)
    assert result.space_id == "roxky/FLUX.1-dev" and result.size == (256, 256)


class _BadHub(http.server.BaseHTTPRequestHandler):
    """A Hub whose Space info is a JSON list: huggingface_hub fails to read it (a bug in a response)."""

    hits: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        type(self).hits.append(self.path)
        body = b"[]"
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture
def bad_hub() -> Iterator[str]:
    _BadHub.hits = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _BadHub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_unreadable_hub_answer_is_typed_and_not_retried(bad_hub, tmp_path):
    with janusflux.Session(hf_endpoint=bad_hub, token=False, cache_dir=str(tmp_path)) as s, \
            pytest.raises(HubResponseError) as info:
        s.generate("flux", "a lighthouse", seed=1)
    err = info.value
    assert not isinstance(err, SpaceBusyError)  # not "the Hub is unreachable", not retried
    assert err.host == bad_hub and bad_hub in str(err) and "could not be read" in str(err)
    assert err.space_id == "black-forest-labs/FLUX.1-dev" and err.__cause__ is not None
    assert [p for p in _BadHub.hits if p.startswith("/api/spaces/")] == ["/api/spaces/black-forest-labs/FLUX.1-dev"]


def test_cli_names_the_host_and_suggests_local(monkeypatch, capsys, tmp_path):
    from janusflux.cli import main

    hub = dead_url()
    monkeypatch.setenv("HF_ENDPOINT", hub)
    monkeypatch.delenv("JANUSFLUX_LOCAL", raising=False)
    started = time.monotonic()
    code = main(["generate", "flux-schnell", "a lighthouse", "-o", str(tmp_path / "x.png"), "--quiet"])
    assert time.monotonic() - started < FAST
    err = capsys.readouterr().err
    assert code == 4 and "HostUnreachableError" in err, err
    assert_helpful(err, hub)


# -- nothing leaves loopback (issue 16, issue 14 §1) ------------------------------------------------------------------
# A child process in a plain environment (none of the test-only variables, no HF_ENDPOINT, an empty HF_HOME), guarded
# from its start by janusflux.netguard: every name lookup or connection that is not loopback is refused and recorded.
# janusflux talks to twins on loopback only; huggingface_hub's agent detection and gradio_client's telemetry, which
# go to the global endpoint (huggingface.co here), must not be attempted. A Session(hf_endpoint=<Hub twin>) in such a
# process: tests/test_session_live.py::test_no_request_to_a_host_the_user_did_not_configure. Here: the local twins.

TEST_ONLY = ("HF_HUB_DISABLE_TELEMETRY", "GRADIO_ANALYTICS_ENABLED", "HF_TOKEN", "HF_ENDPOINT", "DO_NOT_TRACK",
             "DISABLE_TELEMETRY", "HF_HUB_DISABLE_IMPLICIT_TOKEN", "HF_HUB_OFFLINE", "JANUSFLUX_LOCAL")
ROOT = Path(__file__).resolve().parent.parent


def guarded_run(tmp_path: Path, code: str, *args: str, **env_extra: str) -> tuple[subprocess.CompletedProcess[str],
                                                                                   list[str]]:
    """Run ``code`` in a child guarded by :mod:`janusflux.netguard` from its start; the hosts it was refused."""
    env = netguard.child_env(tmp_path / "site", tmp_path / "refused.jsonl",
                             {k: v for k, v in os.environ.items() if k not in TEST_ONLY})
    env.update(PYTHONPATH=os.pathsep.join([env["PYTHONPATH"], str(ROOT)]), HF_HOME=str(tmp_path / "hf-home"),
               **env_extra)
    proc = subprocess.run([sys.executable, "-c", code, *args], check=False, env=env, capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)
    return proc, [r["host"] for r in netguard.read_log(tmp_path / "refused.jsonl")]


def test_the_guard_sees_a_lookup_beyond_loopback(tmp_path):
    """The guard itself: a lookup of huggingface.co is recorded and refused (so the tests below can fail)."""
    proc, refused = guarded_run(tmp_path, "import socket\ntry: socket.create_connection(('huggingface.co', 443))\n"
                                          "except socket.gaierror: print('refused')")
    assert proc.stdout.strip() == "refused" and refused == ["huggingface.co"], proc.stderr


def test_nothing_leaves_loopback_with_janusflux_local(tmp_path):
    """JANUSFLUX_LOCAL=1 and the module-level janusflux.generate: the twins start in the child, on loopback."""
    code = ("import janusflux\n"
            "image = janusflux.generate('flux-schnell', 'a lighthouse at dawn', width=256, height=256, seed=5)\n"
            "image.save('a.png'); print(image.size, type(janusflux.default_session()).__name__)")
    proc, refused = guarded_run(tmp_path, code, JANUSFLUX_LOCAL="1")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().splitlines()[-1] == "(256, 256) LocalSession"
    assert refused == [], f"tried to leave loopback: {refused}"


def test_nothing_leaves_loopback_with_the_cli_local(tmp_path):
    code = "import sys\nfrom janusflux.cli import main\nsys.exit(main(sys.argv[1:]))"
    proc, refused = guarded_run(tmp_path, code, "generate", "flux-schnell", "a lighthouse at dawn", "--local",
                                "-o", "x.png", "--quiet")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "x.png").is_file()
    assert refused == [], f"tried to leave loopback: {refused}"


def test_janusflux_local_makes_the_default_session_local(monkeypatch, tmp_path):
    """JANUSFLUX_LOCAL=1: the module-level functions run on twins started on first use; close() stops them."""
    from janusflux.local import LocalSession

    monkeypatch.setenv("JANUSFLUX_LOCAL", "1")
    janusflux.close()
    try:
        session = janusflux.default_session()
        assert isinstance(session, LocalSession) and session.hf_endpoint == session.fleet.hub_url
        assert session.has_token and session.token_source == "argument"  # a made-up twin token, never the user's
        image = janusflux.generate("flux-schnell", "a lighthouse", width=256, height=256, seed=9)
        assert image.size == (256, 256) and image.space_id == "black-forest-labs/FLUX.1-schnell"
    finally:
        janusflux.close()
    with pytest.raises(OSError):  # the twins are stopped with the session
        socket.create_connection(("127.0.0.1", int(session.fleet.hub_url.rsplit(":", 1)[1])), timeout=5).close()
