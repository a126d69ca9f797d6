"""No silent overrides (issue 14 §5): what the caller asked for is made, or refused before any request, in the
caller's terms. A ratio that disagrees with explicit sizes, a ratio the model cannot make, a vision chat without an
image: each is an InvalidInputError naming the parameter, and no request reaches a twin."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from PIL import Image

import janusflux
from janusflux import InvalidInputError
from janusflux.inputs import resolve_size
from janusflux.models import get_model


@pytest.fixture
def quiet_session(fleet, tmp_path) -> Iterator[janusflux.Session]:
    """A session on the twins; the fleet's request log is cleared, so a test can check nothing was sent."""
    with janusflux.Session(hf_endpoint=fleet.hub_url, token=False, cache_dir=str(tmp_path)) as s:
        fleet.clear_requests()
        yield s


def refused(session: janusflux.Session, fleet, model: str, prompt: str | None, **params) -> InvalidInputError:
    with pytest.raises(InvalidInputError) as info:
        session.generate(model, prompt, **params)
    assert fleet.requests == [], "a request went out before the input was refused"
    return info.value


def test_aspect_ratio_conflicting_with_both_sizes_is_refused(quiet_session, fleet):
    err = refused(quiet_session, fleet, "flux", "a fox", aspect_ratio="16:9", width=512, height=512, seed=1)
    assert err.param == "aspect_ratio"
    assert "'16:9'" in err.message and "width=512" in err.message and "height=512" in err.message, err.message


@pytest.mark.parametrize(("kw", "expected"), [
    ({"aspect_ratio": "16:9", "width": 1024, "height": 576}, (1024, 576)),  # the sizes agree with the ratio
    ({"aspect_ratio": "16:9", "width": 1000, "height": 562}, (992, 576)),  # within 1 % before snapping
    ({"aspect_ratio": "1:4"}, (512, 2048)),  # the edge of what FLUX can make at its default area
    ({"aspect_ratio": "1:4", "width": 512}, (512, 2048)),
])
def test_agreeing_sizes_and_ratios_are_made(kw, expected):
    args = {"width": None, "height": None, "aspect_ratio": None, **kw}
    assert resolve_size(get_model("flux"), args["width"], args["height"], args["aspect_ratio"]) == expected


@pytest.mark.parametrize(("kw", "where", "lo", "hi"), [
    ({"aspect_ratio": "1:20"}, "", "1:4", "4:1"),
    ({"aspect_ratio": "20:1"}, "", "1:4", "4:1"),
    ({"aspect_ratio": "1:20", "width": 512}, "at width=512", "1:4", "2:1"),
    ({"aspect_ratio": "8:1", "height": 1024}, "at height=1024", "1:4", "2:1"),
])
def test_a_ratio_out_of_reach_is_refused_in_the_callers_terms(quiet_session, fleet, kw, where, lo, hi):
    err = refused(quiet_session, fleet, "flux", "a fox", seed=1, **kw)
    assert err.param == "aspect_ratio"
    assert repr(kw["aspect_ratio"]) in err.message and where in err.message, err.message
    assert f"from {lo} to {hi}" in err.message, err.message
    assert "229" not in err.message and "4580" not in err.message  # no size the caller never typed


def test_vision_chat_without_an_image_is_refused(quiet_session, fleet):
    err = refused(quiet_session, fleet, "janus-pro-7b", "What is in this picture?")
    assert err.param == "image" and "image=" in err.message and "--image" in err.message, err.message
    err = refused(quiet_session, fleet, "janus-pro-7b", None, messages=[{"role": "user", "content": "hi"}])
    assert err.param == "image"


def test_vision_chat_with_an_image_is_about_that_image(quiet_session):
    answer = quiet_session.generate("janus-pro-7b", "What is this?", image=Image.new("RGB", (40, 30), "red"))
    assert "40x30" in answer and "white" not in answer


def test_cli_chat_without_an_image_says_what_to_pass(capsys, monkeypatch, fleet):
    from janusflux.cli import main

    monkeypatch.setenv("HF_ENDPOINT", fleet.hub_url)
    fleet.clear_requests()
    assert main(["chat", "-m", "What is in this picture?"]) == 2
    err = capsys.readouterr().err
    assert "InvalidInputError: image:" in err and "--image" in err, err
    assert fleet.requests == []


def _g4f_last(**kw):
    from janusflux.compat import G4F

    async def run():
        return [c async for c in G4F.create_async_generator(messages=[{"role": "user", "content": "hi"}], **kw)]

    return asyncio.run(run())[-1]


def test_g4f_keeps_its_documented_placeholder_and_sizes(fleet, tmp_path):
    """The G4F layer supplies its own placeholder image for a chat without one, and explicit sizes win over its
    default aspect ratio "1:1"; a ratio the caller chose that disagrees with both sizes is refused."""
    from janusflux.compat import G4F

    G4F.session = janusflux.Session(hf_endpoint=fleet.hub_url, token=False, cache_dir=str(tmp_path))
    try:
        answer = _g4f_last(model="janus-pro-7b")
        assert "64x64" in answer and "white" in answer
        image = _g4f_last(model="flux", width=256, height=320, seed=2, steps=1)
        assert (image.options["width"], image.options["height"]) == (256, 320)
        with pytest.raises(InvalidInputError) as info:
            _g4f_last(model="flux", aspect_ratio="16:9", width=256, height=256, steps=1)
        assert info.value.param == "aspect_ratio"
    finally:
        G4F.session.close()
        G4F.session = None


def test_cli_local_chat_without_an_image_fails_before_the_twins_start(capsys, monkeypatch):
    """With --local the missing image is reported before any twin starts (no LocalSession is made)."""
    from janusflux import cli, local

    started: list[object] = []
    monkeypatch.setattr(local, "start_local_session", lambda *a, **k: started.append(1))
    assert cli.main(["chat", "janus", "What is in this picture?", "--local"]) == 2
    assert "InvalidInputError: image:" in capsys.readouterr().err and started == []
