"""Issue 15 §5: a batch's output folder published as a Hub dataset with huggingface_hub (create_repo, upload_folder)
to the Hub twin; listed with list_repo_files, downloaded with hf_hub_download / snapshot_download, read with pandas
and `datasets` (offline, in a subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import janusflux
from janusflux.batch import run_batch
from janusflux.errors import InvalidInputError
from janusflux.publish import push_to_hub

SMALL = {"width": 256, "height": 256, "steps": 1}


@pytest.mark.live
def test_push_a_batch_as_a_dataset_then_list_download_and_load(fleet, session, token, tmp_path):
    from huggingface_hub import HfApi, hf_hub_download, snapshot_download

    pandas = pytest.importorskip("pandas")
    out = tmp_path / "out"
    items = [{"prompt": "a red kite", "id": "kite", "seed": 1, **SMALL},
             {"prompt": "a blue boat", "id": "boat", "seed": 2, **SMALL},
             {"prompt": "a gallery", "id": "gallery", "model": "janus-pro-7b-image", "seed": 3},
             {"prompt": "too wide", "id": "wide", "width": 9999}]
    summary = run_batch(items, out, session=session, model="flux-schnell")
    assert (summary.done, summary.failed) == (3, 1)
    api = HfApi(endpoint=fleet.hub_url, token=token)
    user = api.whoami()["name"]
    repo_id = f"{user}/kites"
    url = push_to_hub(out, repo_id, session=session)
    assert repo_id in url and "/commit/" in url

    files = api.list_repo_files(repo_id, repo_type="dataset")
    pngs = sorted(f for f in files if f.endswith(".png"))
    assert {"README.md", "metadata.jsonl"} <= set(files) and len(pngs) == 2 + 5  # the gallery made 5 images
    meta = hf_hub_download(repo_id, "metadata.jsonl", repo_type="dataset", endpoint=fleet.hub_url, token=token,
                           cache_dir=tmp_path / "hub")
    df = pandas.read_json(meta, lines=True)
    assert sorted(df["file_name"]) == pngs and set(df["status"]) == {"done"}
    assert set(df["model"]) == {"flux-schnell", "janus-pro-7b-image"} and "wide" not in set(df["id"])
    text = Path(hf_hub_download(repo_id, "README.md", repo_type="dataset", endpoint=fleet.hub_url, token=token,
                                cache_dir=tmp_path / "hub")).read_text()
    header = yaml.safe_load(text.split("---")[1])
    assert "janusflux" in header["tags"] and "flux-schnell" in header["tags"]
    assert "| done | 3 |" in text and "| failed | 1 |" in text and "black-forest-labs/FLUX.1-schnell" in text
    assert "deepseek-ai/Janus-Pro-7B" in text and "| width | 256 (2)" in text

    local = snapshot_download(repo_id, repo_type="dataset", endpoint=fleet.hub_url, token=token,
                              local_dir=tmp_path / "snap")
    script = ("import datasets, json, sys\n"
              "ds = datasets.load_dataset('imagefolder', data_dir=sys.argv[1], split='train')\n"
              "print(json.dumps({'n': len(ds), 'columns': ds.column_names, 'sizes': sorted({r['image'].size"
              " for r in ds})}))\n")
    env = {**os.environ, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"),
           "HF_DATASETS_CACHE": str(tmp_path / "hf" / "datasets")}
    proc = subprocess.run([sys.executable, "-c", script, str(local)], env=env, capture_output=True, text=True,
                          timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout.splitlines()[-1])
    assert data["n"] == 7 and data["columns"][0] == "image" and "prompt" in data["columns"]

    # pushing again updates the same repo; a private repo is invisible to another account
    assert "/commit/" in push_to_hub(out, repo_id, session=session)
    push_to_hub(out, f"{user}/secret", session=session, private=True)
    other = HfApi(endpoint=fleet.hub_url, token="hf_other" + token[-8:])
    with pytest.raises(Exception, match=r"404|not found|Repository Not Found"):
        other.list_repo_files(f"{user}/secret", repo_type="dataset")


@pytest.mark.live
def test_push_refusals_are_typed(fleet, session, tmp_path):
    with pytest.raises(InvalidInputError, match="repo_id"):
        push_to_hub(tmp_path, "no-slash", session=session)
    with pytest.raises(InvalidInputError, match=r"metadata\.jsonl"):
        push_to_hub(tmp_path, "me/x", session=session)
    run_batch(["a pebble"], tmp_path / "out", session=session, model="flux-schnell", **SMALL)
    with pytest.raises(InvalidInputError, match="namespace"):  # not the account's own namespace
        push_to_hub(tmp_path / "out", "someone-else/pebbles", session=session)
    with janusflux.Session(hf_endpoint=fleet.hub_url, token=False) as anon, \
            pytest.raises(InvalidInputError, match="token"):
        push_to_hub(tmp_path / "out", "me/pebbles", session=anon)


@pytest.mark.live
def test_cli_batch_push_to_hub(fleet, token, tmp_path, monkeypatch, capsys):
    from huggingface_hub import HfApi

    from janusflux.cli import main

    monkeypatch.setenv("HF_ENDPOINT", fleet.hub_url)
    monkeypatch.setenv("HF_TOKEN", token)
    monkeypatch.delenv("JANUSFLUX_LOCAL", raising=False)
    user = HfApi(endpoint=fleet.hub_url, token=token).whoami()["name"]
    src = tmp_path / "p.txt"
    src.write_text("a fox\na hen\n", encoding="utf-8")
    code = main(["batch", str(src), "--out", str(tmp_path / "out"), "--model", "flux-schnell", "--width", "256",
                 "--height", "256", "--steps", "1", "-q", "--push-to-hub", f"{user}/foxes"])
    assert code == 0
    out = capsys.readouterr()
    assert f"{user}/foxes" in out.out and token not in out.out + out.err
    files = HfApi(endpoint=fleet.hub_url, token=token).list_repo_files(f"{user}/foxes", repo_type="dataset")
    assert sum(f.endswith(".png") for f in files) == 2
