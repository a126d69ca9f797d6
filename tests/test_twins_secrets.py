"""The twins keep no secret: header values are redacted on record; --local never picks up the user's real token."""

from __future__ import annotations

import json

import httpx
import pytest

from janusflux.twins.state import RecordedRequest, Redacted

SECRET = "hf_" + "RealLooking" + "Token0123456789abcdefXYZ"
ZERO = "1764355200:c2VjcmV0LXplcm9ncHU=:c2lnbmF0dXJl"  # the non-JWT ZeroGPU token shape seen in the wild
SECRET_HEADERS = {
    "authorization": f"Bearer {SECRET}",
    "x-hf-authorization": f"Bearer {SECRET}",
    "x-zerogpu-token": ZERO,
    "x-ip-token": "eyJhbGciOiJIUzI1NiJ9.eyJpcCI6IjEuMi4zLjQifQ.c2lnbmF0dXJlLXNlY3JldA",
    "cookie": "spaces-jwt=cookie-secret-value; other=1",
}
ALL_SECRETS = (SECRET, ZERO, SECRET_HEADERS["x-ip-token"], "cookie-secret-value")


def test_request_log_never_holds_or_serves_secret_values(fleet):
    fleet.clear_requests()
    space = fleet.url("black-forest-labs/FLUX.1-schnell")
    httpx.get(f"{fleet.hub_url}/api/whoami-v2", headers=SECRET_HEADERS)
    httpx.get(f"{space}/config", headers=SECRET_HEADERS)
    served = httpx.get(f"{fleet.hub_url}/_twin/requests").text
    recorded = fleet.requests
    dumped = served + repr(recorded) + json.dumps([r.to_dict() for r in recorded])
    for secret in ALL_SECRETS:
        assert secret not in dumped
    assert json.loads(served)[0]["headers"]["authorization"] == "Bearer [redacted]"
    # ...yet a test can still ask whether a given secret arrived, and where
    hub = next(r for r in recorded if r.server == "hub")
    assert hub.headers["authorization"] == f"Bearer {SECRET}" and SECRET in hub.headers["x-hf-authorization"]
    assert hub.headers["x-zerogpu-token"] == ZERO and "cookie-secret-value" in hub.headers["cookie"]
    assert hub.headers["authorization"] != "Bearer hf_other" and "hf_other" not in hub.headers["authorization"]


def test_redacted_value_unit():
    r = RecordedRequest("hub", "GET", "/", "", {"Authorization": "Bearer hf_x1", "X-Probe": "yes"})
    assert r.headers == {"authorization": "Bearer hf_x1", "x-probe": "yes"}
    assert isinstance(r.headers["authorization"], Redacted) and str(r.headers["authorization"]) == "Bearer [redacted]"
    assert "hf_x1" not in repr(r) and "hf_x1" not in str(r.to_dict())


@pytest.mark.live
def test_local_session_never_sends_the_users_real_token(monkeypatch, tmp_path):
    from janusflux.local import local_session

    monkeypatch.setenv("HF_TOKEN", SECRET)
    with local_session(cache_dir=str(tmp_path / "cache")) as session:
        session.generate("flux-schnell", "a fox", width=256, height=256, steps=1, seed=1)
        reqs = session.fleet.requests
        assert session.token_source != "HF_TOKEN"
    assert reqs and not any(SECRET in v for r in reqs for v in r.headers.values())
    hub_auth = [r.headers["authorization"] for r in reqs if r.server == "hub" and "authorization" in r.headers]
    assert hub_auth  # the Hub twin got a twin token instead (a made-up free user)
