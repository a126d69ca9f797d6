"""The VCR configuration and the network guard of janusflux.testing, as pure functions (no server, no cassette)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from vcr.request import Request

from janusflux.testing import (
    FAKE_JWT,
    JWT_EXPIRATION,
    MULTIPART_BOUNDARY,
    SESSION_HASH,
    NetworkBlocked,
    block_network,
    janusflux_vcr_config,
    normalize_request,
    scrub_response,
)

HASH = "3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f"


def test_session_hash_is_normalised_in_join_body_and_data_query() -> None:
    join = Request("POST", "http://127.0.0.1:47861/gradio_api/queue/join",
                   b'{"data": ["a", 1], "fn_index": 2, "session_hash": "%s"}' % HASH.encode(),
                   {"content-type": "application/json"})
    data = Request("GET", f"http://127.0.0.1:47861/gradio_api/queue/data?session_hash={HASH}", b"", {})
    j, d = normalize_request(join), normalize_request(data)
    assert j.body == b'{"data": ["a", 1], "fn_index": 2, "session_hash": "%s"}' % SESSION_HASH.encode()
    assert d.query == [("session_hash", SESSION_HASH)]
    assert HASH.encode() in join.body and HASH in data.uri  # the originals are left alone (copies are changed)


def test_heartbeat_is_never_recorded() -> None:
    beat = Request("GET", f"http://127.0.0.1:47861/gradio_api/heartbeat/{HASH}", b"", {})
    assert normalize_request(beat) is None


def test_jwt_expiration_is_fixed_and_other_query_kept() -> None:
    r = Request("GET", "http://127.0.0.1:47860/api/spaces/a/b/jwt?expiration=2026-11-25T15:37:28.000Z"
                       "&include_pro_status=true", b"", {})
    assert normalize_request(r).query == [("expiration", JWT_EXPIRATION), ("include_pro_status", "true")]


def test_multipart_boundary_and_temporary_input_names_are_fixed() -> None:
    def upload(boundary: str, name: str) -> Request:
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"{name}\"\r\n\r\n"
                f"PNGDATA\r\n--{boundary}--\r\n").encode()
        return Request("POST", "http://127.0.0.1:47864/gradio_api/upload", body,
                       {"content-type": f"multipart/form-data; boundary={boundary}"})

    a = normalize_request(upload("a1b2c3d4e5f6", "janusflux-in-k3j_x9q1.png"))
    b = normalize_request(upload("0f9e8d7c6b5a", "janusflux-in-zz81m0aa.png"))
    assert a.body == b.body and MULTIPART_BOUNDARY.encode() in a.body
    assert a.headers["content-type"] == f"multipart/form-data; boundary={MULTIPART_BOUNDARY}"


def test_responses_lose_cookies_and_jwts_and_the_heartbeat() -> None:
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJ1c2VyIjoiYWxpY2UifQ.c2lnbmF0dXJlc2lnbmF0dXJl"
    response = {"status": {"code": 200, "message": "OK"},
                "headers": {"Set-Cookie": ["sid=secret"], "content-length": ["99"]},
                "body": {"string": b'{"token":"%s","connect_heartbeat":true}' % jwt.encode()}}
    out = scrub_response(response)
    assert out["body"]["string"] == b'{"token":"%s","connect_heartbeat":false}' % FAKE_JWT.encode()
    assert "Set-Cookie" not in out["headers"]
    assert out["headers"]["content-length"] == [str(len(out["body"]["string"]))]
    assert jwt.encode() in response["body"]["string"]  # a copy was changed


def test_config_matches_on_everything_but_headers_and_never_repeats() -> None:
    config = janusflux_vcr_config()
    assert config["match_on"] == ("method", "scheme", "host", "port", "path", "query", "body")
    assert config["record_mode"] == "none" and config["allow_playback_repeats"] is False
    assert {"authorization", "x-hf-authorization", "x-zerogpu-token", "x-ip-token", "cookie"} <= set(
        config["filter_headers"])


def test_block_network_refuses_every_address_and_can_allow_loopback() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        with block_network():
            for address in (("127.0.0.1", port), ("10.255.255.1", 443)):
                with socket.socket() as s, pytest.raises(NetworkBlocked):
                    s.connect(address)
            with block_network(allow_loopback=True), socket.socket() as s:
                s.connect(("127.0.0.1", port))  # the inner guard decides
            with socket.socket() as s, pytest.raises(OSError):
                s.connect(("127.0.0.1", port))  # and the outer one is back
        with socket.socket() as s:
            s.connect(("127.0.0.1", port))  # unpatched after the guard
    assert not hasattr(socket.socket, "_janusflux_real")


def test_plugin_imports_cheaply_and_sets_nothing() -> None:
    """Loading the plugin (pytest does it in every project where janusflux is installed) changes no environment
    variable, patches no socket and imports nothing heavy."""
    code = textwrap.dedent("""
        import os, socket, sys
        before, connect = dict(os.environ), socket.socket.connect
        import janusflux.testing
        heavy = [m for m in ("gradio", "gradio_client", "huggingface_hub", "vcr") if m in sys.modules]
        changed = sorted(k for k in set(before) | set(os.environ) if before.get(k) != os.environ.get(k))
        print(changed, heavy, socket.socket.connect is connect)
    """)
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_DISABLE_TELEMETRY", "GRADIO_ANALYTICS_ENABLED")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[] [] True"


def test_plugin_sets_nothing_in_a_project_that_does_not_use_it(tmp_path) -> None:
    """A pytest run of another project with janusflux installed: the entry-point plugin is loaded, and the tests
    see the environment they were started with."""
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_env.py").write_text(
        "import os, sys\n"
        "def test_env(pytestconfig):\n"
        "    assert pytestconfig.pluginmanager.has_plugin('janusflux')\n"
        "    assert 'HF_HUB_DISABLE_TELEMETRY' not in os.environ and 'GRADIO_ANALYTICS_ENABLED' not in os.environ\n"
        "    assert 'vcr' not in sys.modules and 'gradio_client' not in sys.modules\n")
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_DISABLE_TELEMETRY", "GRADIO_ANALYTICS_ENABLED")}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "1 passed" in out.stdout, out.stdout + out.stderr


def _run_with_module_hidden(tmp_path: Path, module: str) -> subprocess.CompletedProcess[str]:
    """pytest in a fresh folder whose one test asks for ``janusflux_cassette`` (no cassette yet), with ``module``
    unimportable: how a project without that extra runs it."""
    hidden = tmp_path / "hidden" / module
    hidden.mkdir(parents=True)
    (hidden / "__init__.py").write_text(f"raise ImportError('{module} is hidden in this test')\n")
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_x.py").write_text("def test_x(janusflux_cassette):\n    pass\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "hidden")}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=60)


def test_plugin_skips_without_vcrpy(tmp_path) -> None:
    out = _run_with_module_hidden(tmp_path, "vcr")
    assert "1 skipped" in out.stdout and "needs vcr" in out.stdout, out.stdout + out.stderr


def test_recording_skips_without_gradio(tmp_path) -> None:
    """``janusflux[test]`` without ``[twins]``: a test with no cassette yet (so it would record against the twins)
    is skipped, naming the extra to install (the README says so)."""
    out = _run_with_module_hidden(tmp_path, "gradio")
    assert "1 skipped" in out.stdout and "janusflux[twins]" in out.stdout, out.stdout + out.stderr
    assert not (tmp_path / "cassettes").exists() or not any((tmp_path / "cassettes").iterdir())


def _schnell(seed: int, **session: object) -> object:
    """flux-schnell__sync's call, replayed through janusflux_vcr() itself (the function users get)."""
    from pathlib import Path

    import janusflux
    from janusflux.testing import DEFAULT_PORT, TWIN_TOKEN, hub_url, janusflux_vcr

    folder = Path(__file__).resolve().parents[2] / "cassettes"
    with block_network(), janusflux_vcr(folder).use_cassette("flux-schnell__sync.yaml") as cassette:
        with janusflux.Session(hf_endpoint=hub_url(DEFAULT_PORT), token=TWIN_TOKEN, **session) as s:
            result = s.generate("flux-schnell", "a paper boat", width=256, height=256, steps=1, seed=seed)
            assert result.data[:4] == b"RIFF"  # the WebP file the twin sent
        assert cassette.all_played
        return result


def test_janusflux_vcr_replays_the_recorded_call() -> None:
    assert _schnell(13).seed == 13


def test_janusflux_vcr_refuses_a_call_that_was_not_recorded() -> None:
    import janusflux

    with pytest.raises(janusflux.JanusfluxError) as info:
        _schnell(14, max_attempts=1)  # another seed: another queue/join body
    assert type(info.value.__cause__).__name__ == "CannotOverwriteExistingCassetteException"


# -- the plugin in a user's project: unplayed interactions, allow_unplayed, the record command -----------------------
TWO_CALLS = '''
import janusflux
import pytest

CALLS = {calls}


@pytest.mark.janusflux_cassette("calls"{marker})
def test_calls(janusflux_cassette):
    for i in range(CALLS):
        assert janusflux.generate("flux-schnell", f"a boat {{i}}", seed=i, steps=1, width=256, height=256).seed == i
'''


def _project_pytest(project: Path, *args: str, module: str = "pytest") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "JANUSFLUX_", "PYTEST_"))}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    cmd = [sys.executable, "-m", module, *args] if module == "pytest" else [sys.executable, "-m", module, "record",
                                                                                *args]
    return subprocess.run([*cmd, "-q", "-p", "no:cacheprovider", "-p", "no:randomly"], cwd=project, env=env,
                          capture_output=True, text=True, timeout=150)


@pytest.mark.timeout(400)
def test_unplayed_interactions_fail_unless_allowed_and_the_record_command(tmp_path: Path) -> None:
    """Recorded with two calls, replayed by code that makes one: the replay fails naming the unplayed requests;
    with ``allow_unplayed=True`` it passes. ``python -m janusflux.testing record <tests>`` re-records the cassette
    (now with one call), after which the strict replay passes."""
    from ports import free_base_port

    project = tmp_path / "project"
    project.mkdir()
    (project / "pytest.ini").write_text("[pytest]\n")
    test = project / "test_calls.py"
    cassette = project / "cassettes" / "calls.yaml"
    port = f"--janusflux-port={free_base_port()}"

    test.write_text(TWO_CALLS.format(calls=2, marker=""))
    first = _project_pytest(project, port)
    assert first.returncode == 0 and "1 passed" in first.stdout, first.stdout + first.stderr
    recorded = cassette.read_text()
    assert recorded.count("/queue/join") == 2

    test.write_text(TWO_CALLS.format(calls=1, marker=""))
    strict = _project_pytest(project, port, "--janusflux-record-mode=none")
    assert strict.returncode == 1, strict.stdout + strict.stderr
    assert "were not replayed" in strict.stdout and "queue/join" in strict.stdout, strict.stdout

    test.write_text(TWO_CALLS.format(calls=1, marker=", allow_unplayed=True"))
    allowed = _project_pytest(project, port, "--janusflux-record-mode=none")
    assert allowed.returncode == 0 and "1 passed" in allowed.stdout, allowed.stdout + allowed.stderr
    assert cassette.read_text() == recorded, "a replay must not rewrite the cassette"

    test.write_text(TWO_CALLS.format(calls=1, marker=""))
    port = f"--janusflux-port={free_base_port()}"  # a fresh range: the last run's servers may still be closing
    record = _project_pytest(project, "test_calls.py", port, module="janusflux.testing")
    assert record.returncode == 0 and "1 passed" in record.stdout, record.stdout + record.stderr
    assert cassette.read_text().count("/queue/join") == 1
    replay = _project_pytest(project, port, "--janusflux-record-mode=none")
    assert replay.returncode == 0 and "1 passed" in replay.stdout, replay.stdout + replay.stderr


def test_record_command_usage() -> None:
    out = subprocess.run([sys.executable, "-m", "janusflux.testing"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "usage: python -m janusflux.testing record" in out.stderr
