"""The cassettes hold no secrets, no un-normalised session hash, nothing a process asks once (the agent registry),
stay small, and every scenario has one."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from janusflux.testing import FAKE_JWT, SECRET_HEADERS, SESSION_HASH

ROOT = Path(__file__).resolve().parents[1]
CASSETTES = ROOT / "cassettes"
MAX_TOTAL = 5 * 1024 * 1024

ALIASES = ("flux", "flux-dev", "flux-schnell", "janus-pro-7b", "janus-pro-7b-image")
SCENARIOS = sorted({f"{a}__{form}" for a in ALIASES for form in ("sync", "async", "stream")} | {
    "janus-pro-7b__vision-chat",
    "flux-dev__quota-retry-after",
    "flux-dev__fallback-mirror",
    "flux-schnell__sleeping-wake",
    "zerogpu__jwt",
})

SECRETS = {
    "HF token": re.compile(r"hf_[A-Za-z0-9]{20,}"),
    "bearer value": re.compile(r"Bearer\s+[A-Za-z0-9_.\-]{16,}", re.IGNORECASE),
    "JWT": re.compile(r"eyJ[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]*"),
}
UUID = re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b")
HASH_VALUE = re.compile(r"""session_hash(?:\\?["']?\s*[:=]\s*\\?["']?|/)([A-Za-z0-9_\-]+)""")
HEARTBEAT = re.compile(r"/heartbeat/([^\s/?'\"]+)")
SECRET_HEADER = re.compile(r"^\s{4,}(" + "|".join(SECRET_HEADERS) + r"):\s*$", re.IGNORECASE | re.MULTILINE)


def problems(text: str) -> list[str]:
    """What is wrong with one cassette's text (empty when it is clean)."""
    found = [f"{what}: {m.group(0)[:12]}…" for what, rx in SECRETS.items() for m in rx.finditer(text)]
    found += [f"session hash not normalised: {m.group(0)}" for m in UUID.finditer(text)]
    found += [f"session hash not normalised: {v}" for v in HASH_VALUE.findall(text) if v != SESSION_HASH]
    found += [f"heartbeat recorded: {m.group(0)}" for m in HEARTBEAT.finditer(text)]
    # once per process (janusflux.session.quiet): in whichever cassette ran first, unplayed when the order changes
    found += ["agent registry recorded"] if "/api/agent-harnesses" in text else []
    found += [f"secret header kept: {m.group(1)}" for m in SECRET_HEADER.finditer(text)]
    return found


def cassettes() -> list[Path]:
    return sorted(CASSETTES.rglob("*.yaml"))


def test_every_scenario_has_a_cassette() -> None:
    have = {p.stem for p in CASSETTES.glob("*.yaml")}
    assert sorted(set(SCENARIOS) - have) == [], "record them: pytest tests/replay --janusflux-record"


def test_cassettes_together_stay_under_5_mb() -> None:
    total = sum(p.stat().st_size for p in cassettes())
    assert 0 < total < MAX_TOTAL, f"cassettes weigh {total} bytes"


@pytest.mark.parametrize("path", cassettes(), ids=lambda p: p.stem)
def test_cassette_holds_no_secret_and_no_session_hash(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert problems(text) == []
    if "/jwt?" in text:  # the Hub's ZeroGPU token answer was scrubbed, not dropped
        assert f'"token":"{FAKE_JWT}"' in text


# The checks themselves must be able to fail.
@pytest.mark.parametrize("dirty", [
    "x-hf-authorization:\n      - Bearer hf_AbCdEfGhIjKlMnOpQrStUvWx",
    '{"token":"eyJhbGciOiJIUzI1NiJ9.eyJ1c2VyIjoiYWxpY2UifQ.c2lnbmF0dXJl"}',
    "uri: http://127.0.0.1:47861/gradio_api/queue/data?session_hash=3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f",
    'body: \'{"data":[],"fn_index":2,"session_hash":"x9y8z7w6v5"}\'',
    "uri: http://127.0.0.1:47861/gradio_api/heartbeat/janusflux-session-hash",
    "    headers:\n      cookie:\n      - a=b",
    "authorization: Bearer abcdefghijklmnopqrstuvwxyz012345",
    "uri: http://127.0.0.1:47860/api/agent-harnesses",
], ids=["hf-token", "jwt", "uuid-hash", "body-hash", "heartbeat", "cookie-header", "bearer", "agent-registry"])
def test_the_scan_catches(dirty: str) -> None:
    assert problems(dirty) != []


def test_the_scan_passes_clean_text() -> None:
    clean = (f'body: \'{{"data":["a",7],"fn_index":2,"session_hash":"{SESSION_HASH}"}}\'\n'
             f"uri: http://127.0.0.1:47861/gradio_api/queue/data?session_hash={SESSION_HASH}\n"
             f'string: \'{{"token":"{FAKE_JWT}"}}\'\n'
             'string: \'{"event_id":"0f69199e43af4d8789ae2de7d2293c4f"}\'')
    assert problems(clean) == []
