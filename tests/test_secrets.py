"""Secrets: a token never shows up in logs, reprs, exception texts or CLI output, and is never sent to a loopback
Space twin unless the caller allows that host (``send_token_to``). The twins record every request's headers, which
is how "never sent" is proven; the Hub twin must have received it (so the test can fail)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import textwrap
import traceback
from typing import Any

import pytest
from PIL import Image

import janusflux
from janusflux import SpaceError

pytestmark = [pytest.mark.live, pytest.mark.timeout(60)]

DEV, DEV_MIRROR = "black-forest-labs/FLUX.1-dev", "roxky/FLUX.1-dev"
SMALL = {"width": 256, "height": 256, "steps": 1}
LOGGERS = ("", "janusflux", "httpx", "httpcore", "gradio_client", "huggingface_hub", "urllib3", "asyncio")


def full_text(err: BaseException) -> str:
    """The exception's text, repr and full traceback including chained causes."""
    return "\n".join([str(err), repr(err), "".join(traceback.format_exception(err))])


def token_headers(fleet: Any, token: str) -> list[tuple[str, str, str]]:
    """(server, path, header) of every recorded request carrying the token in any header."""
    return [(r.server, r.path, k) for r in fleet.requests for k, v in r.headers.items() if token in v]


@pytest.fixture
def debug_logs(caplog):
    caplog.set_level(logging.DEBUG)
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def test_token_not_in_logs_reprs_or_errors(fleet, token, tmp_path, debug_logs, capsys):
    """With an explicit token and every logger at DEBUG: successful calls (flux, schnell, janus chat and image),
    streamed events and several errors; the token appears nowhere."""
    fleet.clear_requests()
    texts: list[str] = []
    errors: list[BaseException] = []
    with janusflux.Session(hf_endpoint=fleet.hub_url, token=token, cache_dir=str(tmp_path), max_wait=1) as s:
        texts += [repr(s), str(s)]
        img = s.generate("flux", "a cat", **SMALL)
        texts += [repr(img), str(img), json.dumps(img.to_dict(), default=str)]
        img.png_bytes()  # the lazy download goes through the session's HTTP client
        events = list(s.stream("flux", "a dog", width=256, height=256, steps=3))
        texts += [repr(e) for e in events] + [str(e) for e in events]
        answer = s.generate("janus-pro-7b", "what is this?", image=img.path)
        texts += [repr(answer), str(answer)]
        gallery = s.generate("janus-pro-7b-image", "a fox")
        texts += [repr(gallery), str(gallery)]
        answer2 = asyncio.run(s.agenerate("flux-schnell", "a bird", **SMALL))
        texts += [repr(answer2)]
        # errors of several kinds
        fleet.set_fault("flux-dev", worker_error="GPU task aborted")
        fleet.set_fault("black-forest-labs/FLUX.1-schnell", queue_full=True)
        for call in (lambda: s.generate("flux", "x", **SMALL),
                     lambda: s.generate("flux-schnell", "x", **SMALL),
                     lambda: s.generate("flux", "x", seed=-1),
                     lambda: s.generate("nope", "x")):
            try:
                call()
            except janusflux.JanusfluxError as e:
                errors.append(e)
        fleet.set_fault(None, worker_error=None, queue_full=False)
        fleet.set_fault("flux-dev", slow=3.0, times=1)  # both Spaces: the aborted one may still be cooling down
        try:
            s.generate("flux", "x", timeout=0.5, **SMALL)
        except janusflux.JanusfluxError as e:
            errors.append(e)
        texts += [repr(s), str(s), repr(s._token)]
    for bad in ({"token": token + " x"}, {"token": 5}):  # wrong tokens: the message must not echo them
        try:
            janusflux.Session(hf_endpoint=fleet.hub_url, **bad)
        except janusflux.InvalidInputError as e:
            errors.append(e)
    assert len(errors) == 7, [type(e).__name__ for e in errors]
    assert sum(isinstance(e, SpaceError) for e in errors) == 3
    texts += [full_text(e) for e in errors]
    out = capsys.readouterr()
    texts += [out.out, out.err]
    log_text = debug_logs.text + "\n".join(str(r.args) for r in debug_logs.records)
    assert debug_logs.records, "DEBUG logging captured nothing: the test would prove nothing"
    assert token not in log_text
    for t in texts:
        assert token not in t, t[:500]
    # the redacted form is what a repr shows
    assert token[:3] + "…" in repr(s) and token not in repr(s)
    # the token went to the Hub twin (so this test can fail) and to no Space twin
    carried = token_headers(fleet, token)
    assert any(server == "hub" for server, _, _ in carried), "the Hub twin never received the token"
    leaked = [c for c in carried if c[0] != "hub"]
    assert not leaked, f"token sent to Space twins: {leaked[:5]}"


def test_no_auth_headers_to_space_twins(fleet, token, tmp_path):
    """Every request to a Space twin lacks authorization / x-hf-authorization (loopback is not an HF host)."""
    fleet.clear_requests()
    with janusflux.Session(hf_endpoint=fleet.hub_url, token=token, cache_dir=str(tmp_path)) as s:
        s.generate("flux", "a cat", **SMALL).png_bytes()
        s.generate("janus-pro-7b", "what?", image=Image.new("RGB", (32, 32), "white"))
    space_reqs = [r for r in fleet.requests if r.server != "hub"]
    assert space_reqs
    for r in space_reqs:
        assert "authorization" not in r.headers, (r.server, r.path)
        assert token not in r.headers.get("x-hf-authorization", ""), (r.server, r.path)
    hub = [r for r in fleet.requests if r.server == "hub"]
    assert any(r.headers.get("authorization") == f"Bearer {token}" for r in hub)


def test_send_token_to_opt_in(fleet, token, tmp_path):
    """Session(send_token_to=["127.0.0.1:<port of the official twin>"]) -> that twin receives the token (as
    gradio_client sends it, x-hf-authorization); the mirror twin on another port still does not."""
    port = fleet.url(DEV).rsplit(":", 1)[1]
    fleet.clear_requests()
    with janusflux.Session(hf_endpoint=fleet.hub_url, token=token, cache_dir=str(tmp_path),
                           send_token_to=[f"127.0.0.1:{port}"]) as s:
        s.generate("flux", "a cat", **SMALL)
        s.route(DEV, fleet.url(DEV_MIRROR))  # now the same Space id is served by the mirror's port
        s.generate("flux", "a cat", **SMALL)
    by_server = {}
    for server, _path, header in token_headers(fleet, token):
        by_server.setdefault(server, set()).add(header)
    assert DEV in by_server, "the allowed host never received the token"
    assert DEV_MIRROR not in by_server, f"token sent to a host that was not allowed: {by_server[DEV_MIRROR]}"


SUBPROCESS = textwrap.dedent("""
    import asyncio, logging, os, sys
    logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)
    import janusflux
    s = janusflux.Session(hf_endpoint=sys.argv[1], cache_dir=sys.argv[2], max_wait=1)
    assert s.has_token and s.token_source == "HF_TOKEN", (s.has_token, s.token_source)
    print(repr(s), s)
    r = s.generate("flux", "a cat", width=256, height=256, steps=1)
    print(repr(r), r.to_dict())
    for ev in s.stream("flux", "a dog", width=256, height=256, steps=2):
        print(repr(ev))
    try:
        s.generate("flux", "x", seed=-5)
    except janusflux.JanusfluxError as e:
        print("error:", e, repr(e))
    try:
        s.generate("flux", "x", width=256, height=256, steps=1, timeout=0.3)
    except janusflux.JanusfluxError as e:
        import traceback; traceback.print_exc()
    janusflux.configure(hf_endpoint=sys.argv[1], cache_dir=sys.argv[2])
    print(repr(janusflux.default_session()))
    s.close(); janusflux.close()
    print("OK")
""")


def test_hf_token_env_in_subprocess(fleet, token, tmp_path):
    """The token from HF_TOKEN (a subprocess with DEBUG logging on stderr): in none of stdout / stderr, while the
    Hub twin received it and no Space twin did."""
    fleet.clear_requests()
    fleet.set_fault(DEV, slow=2.0, times=2)
    env = {**os.environ, "HF_TOKEN": token}
    env.pop("HF_ENDPOINT", None)
    p = subprocess.run([sys.executable, "-c", SUBPROCESS, fleet.hub_url, str(tmp_path)], env=env,
                       capture_output=True, text=True, timeout=50, cwd=str(tmp_path))
    fleet.set_fault(None, slow=0.0)
    assert p.returncode == 0, p.stderr[-3000:]
    assert "OK" in p.stdout
    assert "DEBUG" in p.stderr, "DEBUG logging was not on: the test would prove nothing"
    assert token not in p.stdout and token not in p.stderr
    carried = token_headers(fleet, token)
    assert any(s == "hub" for s, _, _ in carried)
    assert not [c for c in carried if c[0] != "hub"]


CLI_WITH_DEBUG_LOGS = ("import logging, sys; logging.basicConfig(level=logging.DEBUG, stream=sys.stderr); "
                       "from janusflux.cli import main; sys.exit(main(sys.argv[1:]))")


@pytest.mark.parametrize("args", [["doctor"], ["doctor", "--json"], ["--help"]])
def test_cli_output_redacts_token(fleet, token, tmp_path, args):
    """The CLI in a real process, HF_TOKEN set and every logger at DEBUG on stderr, against the running twins: the
    command succeeds, no part of the token's secret (past the `hf_` every token starts with) is printed, doctor
    shows the redacted form, and the Hub twin did receive the token (so the output could have shown it)."""
    from janusflux.session import redact

    fleet.clear_requests()
    env = {k: v for k, v in os.environ.items() if k != "JANUSFLUX_LOCAL"}
    env.update(HF_TOKEN=token, HF_ENDPOINT=fleet.hub_url)
    p = subprocess.run([sys.executable, "-c", CLI_WITH_DEBUG_LOGS, *args], env=env, capture_output=True, text=True,
                       timeout=50, cwd=str(tmp_path))
    assert p.returncode == 0, p.stderr[-3000:]
    out = p.stdout + p.stderr
    secret = token[len("hf_"):]
    assert token not in out and secret not in out and secret[:8] not in out and secret[-8:] not in out, out[-2000:]
    if args[0] == "doctor":
        assert "DEBUG" in p.stderr, "DEBUG logging was not on: the test would prove nothing"
        assert any(s == "hub" for s, _, _ in token_headers(fleet, token)), "doctor never sent the token"
    if args == ["doctor"]:
        assert f"HF_TOKEN ({redact(token)})" in p.stdout
    if args == ["doctor", "--json"]:
        assert json.loads(p.stdout)["token"]["token"] == redact(token)


# -- cassettes (issue 13 §6) -----------------------------------------------------------------------------------------
def _echo_server() -> Any:
    """A hostile Space in miniature (a real HTTP server on loopback): echoes every request header (and its query)
    into its answer, as JSON or as an error text, and sets a session cookie."""
    import http.server
    import secrets as pysecrets
    import threading

    cookie = "ck_" + pysecrets.token_hex(16)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps({"path": self.path, "headers": dict(self.headers)}).encode()
            status = 500 if self.path.startswith("/error") else 200
            if status == 500:
                body = ("Error: the worker saw " + "; ".join(f"{k}: {v}" for k, v in self.headers.items())).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json" if status == 200 else "text/plain")
            self.send_header("set-cookie", f"session={cookie}; Path=/; HttpOnly")
            self.send_header("x-echo-auth", self.headers.get("authorization", ""))
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    server.cookie = cookie  # type: ignore[attr-defined]
    return server


def _echo_traffic(url: str, token: str, zg: str, ip: str) -> list[Any]:
    import httpx

    with httpx.Client() as c:
        out = [c.get(f"{url}/echo?hf={token}&ip={ip}", headers={"authorization": f"Bearer {token}",
                                                                "x-zerogpu-token": zg, "x-ip-token": ip,
                                                                "x-custom": f"token={token}"})]
        out.append(c.get(f"{url}/error", headers={"x-zerogpu-token": zg, "x-note": f"Bearer {zg}"}))
        out.append(c.get(f"{url}/echo-cookie"))  # sends the cookie back: the answer echoes it
    return out


def test_cassette_scrubs_echoed_secrets_and_cookies(tmp_path, token):
    """Recording a server that echoes request headers (also in an error text) and sets a cookie: the cassette holds
    neither the token, the ZeroGPU token, the ip token, the cookie value nor any ``Bearer`` credential (in URIs,
    headers or bodies), and it still replays."""
    from janusflux.testing import janusflux_vcr

    zg, ip = "zg_" + "5" * 30, "ipt_" + "6" * 30
    server = _echo_server()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with janusflux_vcr(tmp_path, secrets=[token, zg, ip], record_mode="all").use_cassette("echo.yaml"):
            live = _echo_traffic(url, token, zg, ip)
        assert token in live[0].text and zg in live[1].text and server.cookie in live[2].text  # they were echoed
        text = (tmp_path / "echo.yaml").read_text()
        for secret in (token, zg, ip, server.cookie, token[3:]):
            assert secret not in text, f"{secret[:4]}… is in the cassette"
        assert "Bearer janusflux-scrubbed" in text or "bearer janusflux-scrubbed" in text.lower()
        assert "janusflux-scrubbed" in text
    finally:
        server.shutdown()
    # replay, server gone: the scrubbed requests still match
    with janusflux_vcr(tmp_path, secrets=[token, zg, ip]).use_cassette("echo.yaml") as cass:
        replayed = _echo_traffic(url, token, zg, ip)
        assert cass.all_played
    assert [r.status_code for r in replayed] == [200, 500, 200]


def test_cassette_with_a_secret_left_is_not_written(tmp_path, token):
    """If a secret survives (here: the response hook that scrubs is replaced), the recorder refuses to write the
    cassette: a typed error names what was found, redacted, and no file is left."""
    from janusflux.testing import CassetteSecretError, janusflux_vcr

    server = _echo_server()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        recorder = janusflux_vcr(tmp_path, secrets=[token], record_mode="all",
                                 before_record_response=lambda response: response)
        with pytest.raises(CassetteSecretError) as info, recorder.use_cassette("leak.yaml"):
            _echo_traffic(url, token, "zg_" + "5" * 30, "ipt_" + "6" * 30)
    finally:
        server.shutdown()
    assert not (tmp_path / "leak.yaml").exists()
    err = info.value
    assert token not in str(err) and server.cookie not in str(err) and token not in repr(err.found)
    assert any("session secret hf_" in f and "response body" in f for f in err.found), err.found
    assert any("set-cookie" in f for f in err.found), err.found
