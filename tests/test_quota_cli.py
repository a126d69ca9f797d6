"""`janusflux quota` / `janusflux.quota()`: the account's ZeroGPU allowance through huggingface_hub's
`get_zero_gpu_quota`, against the Hub twin (issue 15 §1)."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

import janusflux
from janusflux.errors import InvalidInputError


@pytest.mark.live
def test_quota_of_a_fresh_then_a_used_account(fleet, token):
    with janusflux.Session(hf_endpoint=fleet.hub_url, token=token) as s:
        fresh = janusflux.quota(s)
        assert (fresh.base, fresh.remaining, fresh.resets_at) == (1e9, 1e9, None)
        assert "not used since its last reset" in str(fresh)
        s.generate("flux-schnell", "a pebble", width=256, height=256, steps=1)
        used = janusflux.quota(s)
    asked = round(60 * fleet.states["black-forest-labs/FLUX.1-schnell"].zerogpu.hardware_factor)  # 60 s x factor
    assert used.remaining == 1e9 - asked
    assert used.used == asked and used.resets_at is not None and used.resets_at > datetime.now(timezone.utc)
    assert "resets at" in str(used) and used.to_dict()["remaining"] == used.remaining
    assert token not in str(used) and token not in repr(used)


@pytest.mark.live
def test_quota_needs_a_token_and_says_so(fleet):
    with janusflux.Session(hf_endpoint=fleet.hub_url, token=False) as s, pytest.raises(InvalidInputError) as e:
        janusflux.quota(s)
    assert e.value.param == "token" and "per account" in str(e.value)
    with janusflux.Session(hf_endpoint=fleet.hub_url, token="not-a-token") as s, \
            pytest.raises(InvalidInputError, match="refused the token"):
        janusflux.quota(s)


@pytest.mark.live
def test_cli_quota_text_and_json(fleet, token, monkeypatch, capsys):
    from janusflux.cli import main

    monkeypatch.setenv("HF_ENDPOINT", fleet.hub_url)
    monkeypatch.setenv("HF_TOKEN", token)
    monkeypatch.delenv("JANUSFLUX_LOCAL", raising=False)
    assert main(["quota"]) == 0
    out = capsys.readouterr()
    assert "ZeroGPU: 1e+09s of 1e+09s left" in out.out and token not in out.out + out.err
    assert main(["quota", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["base"] == 1e9 and data["remaining"] == 1e9 and data["resets_at"] is None
    monkeypatch.delenv("HF_TOKEN")
    assert main(["quota"]) == 2
    assert "token" in capsys.readouterr().err
