"""The `janusflux` command line: every command in-process with captured output, the README's main command and
`serve` as real subprocesses, exit codes, --json, and a doctor that never shows the token."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from PIL import Image

from janusflux.cli import main
from janusflux.session import redact

SMALL = ["--width", "256", "--height", "256", "--steps", "3"]
VENV_BIN = Path(sys.executable).parent


@pytest.fixture
def hub_env(fleet, token, monkeypatch):
    """The commands build their session from the environment: point it at the shared twins, as a user."""
    monkeypatch.setenv("HF_ENDPOINT", fleet.hub_url)
    monkeypatch.setenv("HF_TOKEN", token)
    monkeypatch.delenv("JANUSFLUX_LOCAL", raising=False)
    return fleet


def error_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.startswith("error: ")]
    assert len(lines) == 1, err
    return lines[0]


@pytest.fixture
def janus_calls(monkeypatch):
    """What the Janus twin's understanding endpoint received, argument by argument: the twin runs in this process,
    so its model stand-in (`compute.janus_answer`) is wrapped to record its inputs. The stand-in ignores top_p, and
    the twins record no request bodies, so this is where a parameter is seen to reach the Space."""
    from janusflux.twins import compute

    calls: list[dict[str, object]] = []
    real = compute.janus_answer

    def answer(image, question, seed, top_p, temperature):
        calls.append({"question": question, "seed": seed, "top_p": top_p, "temperature": temperature})
        return real(image, question, seed, top_p, temperature)

    monkeypatch.setattr(compute, "janus_answer", answer)
    return calls


# -- generate ---------------------------------------------------------------------------------------------------------
@pytest.mark.live
def test_generate_writes_png_with_metadata_and_progress(hub_env, capsys, tmp_path):
    out = tmp_path / "boat.png"
    assert main(["generate", "flux", "a red boat", *SMALL, "--seed", "7", "-o", str(out)]) == 0
    captured = capsys.readouterr()
    assert captured.out == f"{out}\n"
    # a tqdm bar fed by the event stream, with the shared renderer's status texts (1-based queue position)
    assert "3/3" in captured.err and "Generating on black-forest-labs/FLUX.1-dev" in captured.err
    assert "Queued 1/1 on " in captured.err and "#0" not in captured.err
    assert f"{out}: seed 7 on black-forest-labs/FLUX.1-dev" in captured.err  # the seed it used, on stderr
    with Image.open(out) as im:
        assert im.format == "PNG" and im.size == (256, 256)
        assert im.text["prompt"] == "a red boat" and im.text["seed"] == "7"
        assert im.text["model"] == "flux" and im.text["space"] == "black-forest-labs/FLUX.1-dev"


@pytest.mark.live
def test_generate_json_count_and_quiet(hub_env, capsys, tmp_path):
    out = tmp_path / "img.png"
    assert main(["generate", "flux-schnell", "a green frog", *SMALL, "--seed", "10", "-n", "2", "-o", str(out),
                 "--json", "--aspect-ratio", "1:1"]) == 0
    captured = capsys.readouterr()
    data = json.loads(captured.out)
    assert captured.err == ""  # --json: no progress
    assert [i["seed"] for i in data["images"]] == [10, 11]
    assert [Path(i["file"]).name for i in data["images"]] == ["img-1.png", "img-2.png"]
    assert all(Path(i["file"]).is_file() and i["space_id"] == "black-forest-labs/FLUX.1-schnell"
               for i in data["images"])

    assert main(["generate", "flux-schnell", "a frog", *SMALL, "--quiet", "-o", str(tmp_path / "q")]) == 0
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out.strip() == str(tmp_path / "q.png")


@pytest.mark.live
def test_generate_janus_gallery_writes_five_files(hub_env, capsys, tmp_path):
    assert main(["generate", "janus-pro-7b-image", "a fox", "--seed", "1", "-o", str(tmp_path / "fox.png"),
                 "--quiet"]) == 0
    files = capsys.readouterr().out.split()
    assert [Path(f).name for f in files] == [f"fox-{i}.png" for i in range(5)]
    with Image.open(files[0]) as im:
        assert im.size == (768, 768) and im.text["seed"] == "1"


# -- chat -------------------------------------------------------------------------------------------------------------
@pytest.mark.live
def test_chat_with_image_and_turns(hub_env, capsys, tmp_path):
    img = tmp_path / "red.png"
    Image.new("RGB", (96, 64), (220, 10, 10)).save(img)
    assert main(["chat", "--image", str(img), "-m", "What is in this picture?", "--quiet"]) == 0
    answer = capsys.readouterr().out
    assert "96x64" in answer and "What is in this picture?" in answer

    turns = tmp_path / "turns.json"
    turns.write_text(json.dumps([{"role": "user", "content": "Describe the colours."},
                                 {"role": "assistant", "content": "Mostly red."}]), encoding="utf-8")
    assert main(["chat", "--image", str(img), "--messages-file", str(turns), "-m", "And the size?", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["type"] == "text" and data["space_id"] == "deepseek-ai/Janus-Pro-7B"
    assert "User: Describe the colours." in data["text"] and "Assistant: Mostly red." in data["text"]


# -- models and doctor -------------------------------------------------------------------------------------------------
def test_models_text_and_json(capsys):
    assert main(["models"]) == 0
    text = capsys.readouterr().out
    assert "flux-schnell" in text and "black-forest-labs/FLUX.1-schnell" in text and "256..2048 step 32" in text
    assert "seed 0..2147483647 step 1" in text
    assert main(["models", "--json"]) == 0
    rows = {r["alias"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["flux"]["spaces"] == ["black-forest-labs/FLUX.1-dev", "roxky/FLUX.1-dev"]
    assert rows["janus-pro-7b"]["kind"] == "vision-chat" and rows["flux-dev"]["limits"]["steps"] == "1..50 step 1"


@pytest.mark.live
def test_doctor_reports_without_the_token(hub_env, token, capsys):
    hub_env.set_stage("roxky/FLUX.1-dev", "PAUSED")
    assert main(["doctor"]) == 0
    captured = capsys.readouterr()
    assert token not in captured.out + captured.err and token[3:] not in captured.out + captured.err
    assert f"HF_TOKEN ({redact(token)})" in captured.out
    assert "black-forest-labs/FLUX.1-dev" in captured.out and "RUNNING" in captured.out
    assert "PAUSED" in captured.out
    assert "ZeroGPU left" in captured.out and "zerogpu token: ok" in captured.out

    assert main(["doctor", "--json"]) == 0
    captured = capsys.readouterr()
    assert token not in captured.out + captured.err
    report = json.loads(captured.out)
    assert report["hub"]["reachable"] and report["token"] == {"source": "HF_TOKEN", "token": redact(token),
                                                              "user": report["token"]["user"], "zerogpu": "ok"}
    assert report["token"]["user"].startswith("user-")
    assert report["spaces"]["roxky/FLUX.1-dev"]["stage"] == "PAUSED"
    assert report["zerogpu_quota"]["remaining"] == hub_env.quota_left(token)


def test_doctor_unreachable_hub(monkeypatch, capsys):
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # discard port: nothing listens
    monkeypatch.delenv("JANUSFLUX_LOCAL", raising=False)
    monkeypatch.setenv("HF_TOKEN", "hf_doctorsecret0123456789")
    assert main(["doctor", "--timeout", "2"]) == 4
    out = capsys.readouterr().out
    assert "UNREACHABLE" in out and "hf_doctorsecret0123456789" not in out


@pytest.mark.live
def test_doctor_local_uses_the_twins(monkeypatch, capsys):
    secret = "hf_localdoctor" + "9" * 20
    monkeypatch.setenv("HF_TOKEN", secret)
    monkeypatch.delenv("HF_ENDPOINT", raising=False)
    monkeypatch.setenv("JANUSFLUX_LOCAL", "1")
    assert main(["doctor", "--json"]) == 0
    captured = capsys.readouterr()
    assert secret not in captured.out + captured.err
    report = json.loads(captured.out)  # stdout is only the report (gradio's chatter went to stderr)
    assert report["local"] and report["hub"]["endpoint"].startswith("http://127.0.0.1:")
    assert {s["stage"] for s in report["spaces"].values()} == {"RUNNING"} and len(report["spaces"]) == 5
    assert report["zerogpu_quota"]["remaining"] > 0


# -- batch ------------------------------------------------------------------------------------------------------------
@pytest.mark.live
def test_batch_command_json_and_resume(hub_env, capsys, tmp_path):
    src = tmp_path / "p.csv"
    src.write_text("prompt,seed,id\na cat,1,cat\na dog,2,dog\n", encoding="utf-8")
    args = ["batch", str(src), "--out", str(tmp_path / "out"), "--model", "flux-schnell", *SMALL]
    assert main([*args, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["done"], summary["skipped"], summary["failed"]) == (2, 0, 0)
    assert sorted(p.name for p in (tmp_path / "out").glob("*.png")) == ["cat.png", "dog.png"]
    assert main(args) == 0
    captured = capsys.readouterr()
    assert "0 done, 2 skipped" in captured.out and "batch" in captured.err  # the overall bar

    bad = tmp_path / "bad.txt"
    bad.write_text("a lake\n", encoding="utf-8")
    assert main(["batch", str(bad), "--out", str(tmp_path / "o2"), "--width", "5000", "--quiet"]) == 1
    assert "1 failed" in capsys.readouterr().out
    assert main(["batch", str(tmp_path / "nope.yaml"), "--out", str(tmp_path / "o3")]) == 2


@pytest.mark.live
def test_batch_failures_are_items_with_reasons_even_quiet(hub_env, capsys, tmp_path):
    src = tmp_path / "p.csv"
    src.write_text("prompt,model,id,notes\na cat,,cat,keep me\na dog,fluxx,dog,\n", encoding="utf-8")
    out = tmp_path / "out"
    assert main(["batch", str(src), "--out", str(out), "--model", "flux-schnell", *SMALL, "--quiet"]) == 1
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and "1 done" in captured.out and "1 failed" in captured.out
    assert "failed dog (line 3): UnknownModelError: model: unknown model 'fluxx'" in captured.err
    rows = [json.loads(line) for line in (out / "metadata.jsonl").read_text().splitlines()]
    assert [(r["id"], r["status"], r["notes"]) for r in rows] == [("cat", "done", "keep me"), ("dog", "failed", "")]


@pytest.mark.live
def test_batch_resumed_progress_counts_right(hub_env, capsys, tmp_path):
    src = tmp_path / "p.txt"
    src.write_text("a cat\na dog\n", encoding="utf-8")
    out = tmp_path / "out"
    args = ["batch", str(src), "--out", str(out), "--model", "flux-schnell", *SMALL]
    assert main([*args, "--quiet"]) == 0
    capsys.readouterr()
    next(out.glob("*.png")).unlink()
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "batch:  50%" in err and "1/2" in err  # starts at what is done
    assert "batch: 100%" in err and "2/2" in err, err  # and ends at 100%


@pytest.mark.live
def test_batch_manifest_option_moves_the_journal_and_resumes_from_it(hub_env, capsys, tmp_path):
    from janusflux.batch import read_manifest

    src = tmp_path / "p.csv"
    src.write_text("prompt,seed,id\na cat,1,cat\na dog,2,dog\n", encoding="utf-8")
    out, journal = tmp_path / "out", tmp_path / "journal.jsonl"
    args = ["batch", str(src), "--out", str(out), "--model", "flux-schnell", *SMALL, "--manifest", str(journal),
            "--json"]
    assert main(args) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["done"], summary["skipped"], summary["failed"]) == (2, 0, 0)
    assert summary["manifest"] == str(journal)
    assert sorted((r["id"], r["status"]) for r in read_manifest(journal)) == [("cat", "done"), ("dog", "done")]
    assert not (out / "manifest.jsonl").exists()
    assert sorted(p.name for p in out.glob("*.png")) == ["cat.png", "dog.png"]

    mark = len(hub_env.requests)
    assert main(args) == 0  # the same journal: everything is done already
    summary = json.loads(capsys.readouterr().out)
    assert (summary["done"], summary["skipped"], summary["failed"]) == (0, 2, 0)
    assert not [r for r in hub_env.requests[mark:] if r.path.endswith("/queue/join")]
    assert len(read_manifest(journal)) == 2 and not (out / "manifest.jsonl").exists()


# -- exit codes -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("argv, needle", [
    (["generate", "flux", "x", "--width", "5000"], "error: InvalidInputError: width: 5000 is outside"),
    (["generate", "fluxx", "x"], "error: UnknownModelError: model: unknown model 'fluxx'. Did you mean"),
    (["generate", "flux", "x", "-n", "0"], "error: InvalidInputError: count"),
    (["chat", "--image", "/nonexistent.png", "-m", "hi"], "error: InvalidInputError: image: no such file"),
    (["chat"], "error: InvalidInputError: messages"),
])
def test_invalid_input_exits_2(argv, needle, capsys, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing may be sent: bad input fails first
    monkeypatch.delenv("JANUSFLUX_LOCAL", raising=False)
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert error_line(captured.err).startswith(needle) and captured.out == ""


def test_usage_errors_exit_2(capsys):
    assert main(["generate", "flux"]) == 2  # missing prompt (argparse)
    assert main(["frobnicate"]) == 2
    assert main(["generate", "flux", "x", "--width", "wide"]) == 2
    capsys.readouterr()
    assert main(["--help"]) == 0
    assert "generate" in capsys.readouterr().out


@pytest.mark.live
def test_quota_exits_3(hub_env, capsys):
    hub_env.set_fault(None, runs_limit=True)
    assert main(["generate", "flux", "x", *SMALL, "--max-wait", "0.1", "--quiet"]) == 3
    assert "error: QuotaExceededError: " in error_line(capsys.readouterr().err)


@pytest.mark.live
def test_unavailable_exits_4(hub_env, capsys):
    for space in ("black-forest-labs/FLUX.1-dev", "roxky/FLUX.1-dev"):
        hub_env.set_stage(space, "PAUSED")
    assert main(["generate", "flux", "x", *SMALL, "--max-wait", "0.1", "--quiet"]) == 4
    assert error_line(capsys.readouterr().err).startswith("error: SpaceUnavailableError: the Space is PAUSED")


@pytest.mark.live
def test_busy_exits_4(hub_env, capsys):
    hub_env.set_fault("flux-schnell", queue_full=True)
    assert main(["generate", "flux-schnell", "x", *SMALL, "--max-wait", "0.1", "--quiet"]) == 4
    assert "error: SpaceBusyError: " in error_line(capsys.readouterr().err)


@pytest.mark.live
def test_timeout_exits_5(hub_env, capsys):
    hub_env.set_fault("flux-dev", slow=2.0)
    assert main(["generate", "flux", "x", *SMALL, "--timeout", "0.5", "--quiet"]) == 5
    assert "error: GenerationTimeoutError: " in error_line(capsys.readouterr().err)


# -- one grammar, every input checked before the twins start or any request ----------------------------------------
@pytest.fixture
def no_twins(monkeypatch):
    """`--local` without twins: if anything tried to start them (or a session), the test would see it."""
    import janusflux.local

    def refuse(**kwargs):
        raise AssertionError("the twins were started before the input was checked")

    monkeypatch.setattr(janusflux.local, "local_session", refuse)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # and nothing could be sent anywhere
    monkeypatch.delenv("JANUSFLUX_LOCAL", raising=False)


@pytest.mark.parametrize("argv, needle", [
    (["generate", "janus", "a fox"], "model: janus is a vision-chat model and does not make images; "
                                     "for images use `janusflux generate janus-pro-7b-image PROMPT`"),
    (["chat", "flux", "What is this?"], "model: flux makes images and does not answer questions"),
    (["chat", "janus-pro-7b-image", "hi"], "`janusflux chat janus-pro-7b QUESTION --image PATH`"),
    (["generate", "fluxx", "a fox"], "UnknownModelError: model: unknown model 'fluxx'"),
    (["chat", "janus", "hi", "--image", "/nonexistent.png"], "image: no such file"),
    (["generate", "flux", "x", "-a", "wide"], "aspect_ratio: expected 'W:H'"),
    (["generate", "flux", "x", "--width", "5000"], "width: 5000 is outside"),
    (["generate", "flux", "x", "--guidance", "500"], "guidance: 500.0 is outside"),
    (["generate", "flux-schnell", "x", "--guidance", "3"], "guidance: flux-schnell takes no guidance"),
    (["generate", "flux", "x", "--steps", "0"], "steps: 0 is outside"),
    (["generate", "flux", "x", "--seed", "-1"], "seed: -1 is outside"),
    (["generate", "flux", "a fox", "--model", "flux-schnell"], "model: given twice"),
    (["generate", "flux"], "prompt: missing: janusflux generate flux PROMPT"),
    (["generate", "a", "fox", "jumps"], "prompt: expected [MODEL] PROMPT, got 3 words"),
    (["chat", "janus", "hi", "--temperature", "5"], "temperature: 5.0 is outside"),
    (["chat", "janus", "hi", "--top-p", "2"], "top_p: 2.0 is outside"),
    (["chat", "janus", "--messages-file", "/nonexistent.json"], "messages_file: no such file"),
])
def test_every_input_is_checked_before_the_twins_start(argv, needle, no_twins, capsys):
    assert main([*argv, "--local"]) == 2
    captured = capsys.readouterr()
    assert needle in error_line(captured.err) and captured.out == ""


def test_messages_file_errors(no_twins, capsys, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    assert main(["chat", "--messages-file", str(bad), "--local"]) == 2
    assert "error: InvalidInputError: messages_file: not JSON" in error_line(capsys.readouterr().err)
    bad.write_text('"just a string"', encoding="utf-8")
    assert main(["chat", "--messages-file", str(bad), "--local"]) == 2
    assert "messages_file: expected a JSON list" in error_line(capsys.readouterr().err)


def test_help_has_no_rst_backticks_and_version(capsys):
    from janusflux import __version__

    for argv in (["--help"], ["generate", "--help"], ["chat", "--help"], ["batch", "--help"]):
        assert main(argv) == 0
        out = capsys.readouterr().out
        assert "``" not in out and "`" not in out, argv
    assert main(["--help"]) == 0
    assert "janusflux generate [MODEL] PROMPT" in capsys.readouterr().out
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"janusflux {__version__}\n"


@pytest.mark.live
def test_chat_takes_the_model_like_generate(hub_env, janus_calls, capsys, tmp_path):
    img = tmp_path / "red.png"
    Image.new("RGB", (96, 64), (220, 10, 10)).save(img)
    assert main(["chat", "janus", "What is this?", "--image", str(img), "--quiet"]) == 0
    assert "96x64" in capsys.readouterr().out
    assert main(["chat", "--model", "janus-pro", "What is this?", "--image", str(img), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["model"] == "janus-pro"
    # role prefixes set the roles of the -m turns
    assert main(["chat", "janus", "--image", str(img), "-m", "Describe it.", "-m", "assistant: Mostly red.",
                 "-m", "And the size?", "--json"]) == 0
    text = json.loads(capsys.readouterr().out)["text"]
    assert "User: Describe it." in text and "Assistant: Mostly red." in text and "User: And the size?" in text
    # "system:" (the -m help names it): a system turn, folded into the question the Space gets like the others
    assert main(["chat", "janus", "--image", str(img), "-m", "system: Answer in one line.", "-m", "Describe it.",
                 "--json"]) == 0
    text = json.loads(capsys.readouterr().out)["text"]
    assert "System: Answer in one line.\nUser: Describe it.\nAssistant:" in janus_calls[-1]["question"]
    assert "System: Answer in one line." in text and "User: system:" not in text


@pytest.mark.live
def test_chat_progress_is_a_status_not_a_step_bar(hub_env, capsys, tmp_path):
    img = tmp_path / "red.png"
    Image.new("RGB", (32, 32), (220, 10, 10)).save(img)
    assert main(["chat", "janus", "What is this?", "--image", str(img)]) == 0
    err = capsys.readouterr().err
    assert "Generating on deepseek-ai/Janus-Pro-7B" in err
    assert "step" not in err and "0/" not in err and "%|" not in err, err


@pytest.mark.live
def test_temperature_and_guidance_reach_the_space(hub_env, token, janus_calls, capsys, tmp_path):
    """The CLI's --temperature/--top-p/--seed and --guidance give what the same call through the SDK gives."""
    import janusflux

    img = tmp_path / "red.png"
    Image.new("RGB", (32, 32), (220, 10, 10)).save(img)
    with janusflux.Session(hf_endpoint=hub_env.hub_url, token=token) as s:
        warm = s.generate("janus", "What is this?", image=str(img), temperature=0.9, top_p=0.5, seed=5)
        greedy = s.generate("janus", "What is this?", image=str(img), temperature=0.0, seed=5)
        flat = s.generate("flux", "a boat", width=256, height=256, steps=2, seed=3, guidance=1.0).data
    janus_calls.clear()
    assert main(["chat", "janus", "What is this?", "--image", str(img), "--temperature", "0.9", "--top-p", "0.5",
                 "--seed", "5", "--quiet"]) == 0
    assert capsys.readouterr().out == f"{warm}\n"
    # the Space received them (its stand-in ignores top_p, so the answer alone cannot show it)
    assert [(c["top_p"], c["temperature"], c["seed"]) for c in janus_calls] == [(0.5, 0.9, 5)]
    assert main(["chat", "janus", "What is this?", "--image", str(img), "--temperature", "0", "--seed", "5",
                 "--quiet"]) == 0
    assert capsys.readouterr().out == f"{greedy}\n"
    out = tmp_path / "flat.png"
    assert main(["generate", "flux", "a boat", "--width", "256", "--height", "256", "--steps", "2", "--seed", "3",
                 "--guidance", "1.0", "-o", str(out), "--quiet"]) == 0
    with Image.open(out) as a, Image.open(io.BytesIO(flat)) as b:
        assert a.convert("RGB").tobytes() == b.convert("RGB").tobytes()
    other = tmp_path / "default.png"
    assert main(["generate", "flux", "a boat", "--width", "256", "--height", "256", "--steps", "2", "--seed", "3",
                 "-o", str(other), "--quiet"]) == 0
    with Image.open(out) as a, Image.open(other) as b:
        assert a.convert("RGB").tobytes() != b.convert("RGB").tobytes()  # guidance changed the image


@pytest.mark.live
def test_default_output_paths_and_model_option(hub_env, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["generate", "--model", "flux-schnell", "a frog", *SMALL, "--seed", "12"]) == 0
    captured = capsys.readouterr()
    assert captured.out == "flux-schnell-12.png\n" and (tmp_path / "flux-schnell-12.png").is_file()
    assert "seed 12 on black-forest-labs/FLUX.1-schnell" in captured.err
    assert main(["generate", "a frog", *SMALL, "--quiet"]) == 0  # no model: flux, the seed drawn and in the name
    name = capsys.readouterr().out.strip()
    assert name.startswith("flux-") and name.endswith(".png") and (tmp_path / name).is_file()
    with Image.open(tmp_path / name) as im:
        assert name == f"flux-{im.text['seed']}.png" and im.text["model"] == "flux"
    (tmp_path / "imgs").mkdir()
    assert main(["generate", "flux-schnell", "a frog", *SMALL, "--seed", "4", "-o", "imgs/", "--quiet"]) == 0
    assert capsys.readouterr().out == "imgs/flux-schnell-4.png\n"


# -- real subprocesses ------------------------------------------------------------------------------------------------
def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("HF_TOKEN", "HF_ENDPOINT", "JANUSFLUX_LOCAL")}
    env.update(**extra)
    return env


@pytest.mark.live
def test_readme_main_command_in_a_subprocess(tmp_path):
    """`janusflux generate flux "a lighthouse at dawn" --local -o lighthouse.png`, as on a fresh machine."""
    script = VENV_BIN / "janusflux"
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "janusflux.cli"]
    proc = subprocess.run([*cmd, "generate", "flux", "a lighthouse at dawn", "--local", "-o", "lighthouse.png"],
                          cwd=tmp_path, env=_clean_env(), capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "lighthouse.png\n"  # nothing else on stdout (gradio's lines go to stderr)
    with Image.open(tmp_path / "lighthouse.png") as im:
        im.load()
        assert im.format == "PNG" and im.size == (1024, 1024)
        assert im.text["prompt"] == "a lighthouse at dawn" and im.text["model"] == "flux"
        assert im.text["space"] == "black-forest-labs/FLUX.1-dev" and int(im.text["seed"]) >= 0
    assert not list(tmp_path.glob("*.part")) and not list(tmp_path.glob(".*.part"))


@pytest.mark.live
def test_serve_in_a_subprocess(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "janusflux.cli", "serve", "flux-schnell", "--port", "0"],
                            env=_clean_env(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        hub = None
        for line in proc.stdout:
            if line.startswith("export HF_ENDPOINT="):
                hub = line.split("=", 1)[1].strip()
                break
        assert hub and hub.startswith("http://127.0.0.1:")
        r = httpx.get(f"{hub}/api/spaces/black-forest-labs/FLUX.1-schnell/runtime", timeout=10)
        assert r.status_code == 200 and r.json()["stage"] == "RUNNING"
        proc.send_signal(signal.SIGTERM)
        rest = proc.stdout.read()
        assert proc.wait(20) == 0 and "twins stopped" in rest
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()


@pytest.mark.live
def test_ctrl_c_exits_130(hub_env, token, tmp_path):
    """SIGINT while a generation runs: one line on stderr, exit code 130."""
    hub_env.set_fault("flux-dev", slow=30.0)
    env = _clean_env(HF_ENDPOINT=hub_env.hub_url, HF_TOKEN=token)
    # Ctrl-C as in a terminal: SIGINT at its default. A suite started in the background (`pytest &`, a CI script)
    # inherits SIGINT ignored, as POSIX shells do for background jobs, and so would the command (run 1 under load).
    code = ("import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
            "from janusflux.cli import main; sys.exit(main())")
    proc = subprocess.Popen([sys.executable, "-c", code, "generate", "flux", "x", *SMALL],
                            cwd=tmp_path, env=env, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        seen = ""
        while "Generating on" not in seen:  # wait for the job to run on the Space (a state, not a sleep)
            ch = proc.stderr.read(1)
            assert ch, seen
            seen += ch
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert "error: KeyboardInterrupt: interrupted" in err and out == ""


@pytest.mark.live
def test_batch_sigint_is_acknowledged_at_once_and_exits_130(hub_env, token, tmp_path):
    hub_env.set_fault("flux-schnell", slow=12.0, times=1)
    src = tmp_path / "p.txt"
    src.write_text("a cat\na dog\n", encoding="utf-8")
    env = _clean_env(HF_ENDPOINT=hub_env.hub_url, HF_TOKEN=token)
    mark = len(hub_env.requests)
    proc = subprocess.Popen([sys.executable, "-m", "janusflux.cli", "batch", str(src), "--out", str(tmp_path / "o"),
                             "--model", "flux-schnell", "--concurrency", "1", *SMALL, "--quiet"],
                            cwd=tmp_path, env=env, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        while not any(r.path.endswith("/queue/join") for r in hub_env.requests[mark:]):  # an item is in flight
            assert proc.poll() is None, proc.stderr.read()
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        line = proc.stderr.readline()  # before the item in flight ends (it sleeps 12 s on the Space)
        assert line.startswith("stopping: no new items; waiting for the 1 in flight (Ctrl-C again to cancel them)")
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        took = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert err.startswith("cancelling the items in flight") and "interrupted: run again to resume" in out
    assert took < 9.0, f"the item in flight was not cancelled: the batch waited {took:.1f}s for it"


@pytest.mark.live
@pytest.mark.parametrize("args", [["doctor"], ["doctor", "--json"], ["generate", "flux-schnell", "a cat", *SMALL],
                                  ["--help"]])
def test_cli_output_never_shows_the_token(fleet, token, tmp_path, args):
    """A real process with HF_TOKEN set: the command succeeds and no part of the token's secret (anything past
    the `hf_` every token starts with) is printed; doctor shows the redacted form."""
    env = _clean_env(HF_TOKEN=token, HF_ENDPOINT=fleet.hub_url)
    p = subprocess.run([sys.executable, "-m", "janusflux.cli", *args], env=env, capture_output=True, text=True,
                       timeout=120, cwd=str(tmp_path))
    assert p.returncode == 0, p.stderr
    out = p.stdout + p.stderr
    secret = token[len("hf_"):]
    assert token not in out and secret not in out and secret[:8] not in out and secret[-8:] not in out, out[-2000:]
    if args == ["doctor"]:
        assert f"HF_TOKEN ({redact(token)})" in out
    if args == ["doctor", "--json"]:
        assert json.loads(p.stdout)["token"]["token"] == redact(token)


# -- results and the shared renderer (pure) --------------------------------------------------------------------------
def test_results_show_seed_space_and_timings():
    from janusflux.results import Done, ImageList, ImageResult, TextResult

    answer = TextResult("a red square", model="janus", space_id="deepseek-ai/Janus-Pro-7B", seed=42,
                        timings={"total": 1.5})
    r = repr(answer)
    assert "seed=42" in r and "space_id='deepseek-ai/Janus-Pro-7B'" in r and "'total': 1.5" in r
    assert "a red square" in r and answer == "a red square"
    image = ImageResult(url="http://h/a.webp", seed=7, space_id="a/b", timings={"queued": 0.1, "total": 2.0})
    assert "seed=7" in repr(image) and "space_id='a/b'" in repr(image) and "'total': 2.0" in repr(image)
    assert Done(result=answer).space_id == "deepseek-ai/Janus-Pro-7B"
    assert Done(result=ImageList([image])).space_id == "a/b" and Done(result=None).space_id is None
    assert Done(result=answer, space_id="x/y").space_id == "x/y"


def test_step_counter_shows_each_step_once():
    from janusflux.render import StepCounter, status_text
    from janusflux.results import Preview, Progress, Queued

    def steps(events, total=None):
        c = StepCounter(total)
        return [c.text(e) for e in events if c.advance(e) is not None]

    one = [Progress(step=i, total=3) for i in (1, 2, 3)]
    two = [e for i in (1, 2, 3) for e in (Progress(step=i, total=3), Preview(step=i))] + [Preview(step=4)]
    assert steps(one) == steps(two) == ["Step 1/3", "Step 2/3", "Step 3/3"]
    assert steps([Preview(step=1), Preview(step=2)]) == ["Step 1", "Step 2"]
    assert status_text(Queued(rank=0, queue_size=1, space_id="a/b")) == "Queued 1/1 on a/b"
