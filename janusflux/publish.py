"""Publish a batch's output folder as a Hugging Face dataset (``janusflux batch ... --push-to-hub USER/NAME``).

    from janusflux.publish import push_to_hub
    url = push_to_hub("out/", "me/lighthouses", session=s)

The folder is already an ``imagefolder``; what goes up is its finished part: every image of a ``done`` item and a
``metadata.jsonl`` with one row per image (an item that made several images gets a row per image, with ``index``),
plus a dataset card (``README.md``: a YAML header, then the models, their Spaces, the parameters used and the counts,
failed and pending items included). Only huggingface_hub talks to the Hub: ``create_repo(repo_type="dataset",
exist_ok=True)`` and ``upload_folder`` from a staging copy (the output folder itself is left as it is). The token is
the session's, sent to the session's Hub endpoint only.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from .errors import InvalidInputError, SpaceUnavailableError

__all__ = ["dataset_card", "push_to_hub"]

PARAMS = ("width", "height", "steps", "guidance", "aspect_ratio")


def _rows(out: Path) -> list[dict[str, Any]]:
    path = out / "metadata.jsonl"
    if not path.is_file():
        raise InvalidInputError("out_dir", f"no metadata.jsonl in {str(out)!r}: run the batch first")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _published(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per image of the done items (``files`` expanded, with ``index``)."""
    out = []
    for r in rows:
        if r.get("status") != "done" or not r.get("file_name"):
            continue
        files = r.get("files") or [r["file_name"]]
        base = {k: v for k, v in r.items() if k not in ("files", "error")}
        for i, name in enumerate(files):
            out.append({**base, "file_name": name, **({"index": i} if len(files) > 1 else {})})
    return out


def dataset_card(rows: list[dict[str, Any]], repo_id: str) -> str:
    """The README.md of the dataset: a YAML header, models, Spaces, parameters and counts."""
    done = [r for r in rows if r.get("status") == "done"]
    status = Counter(r.get("status") for r in rows)
    models = sorted({str(r.get("model")) for r in rows if r.get("model")})
    images = len(_published(rows))
    size = "n<1K" if images < 1000 else "1K<n<10K" if images < 10000 else "10K<n<100K"
    header = "\n".join(["---", "pretty_name: " + json.dumps(repo_id.split("/")[-1]), "task_categories:",
                        "- text-to-image", "size_categories:", f"- {size}", "tags:", "- janusflux", "- synthetic",
                        *[f"- {json.dumps(m)}" for m in models], "---"])
    about = (f"Images generated with [janusflux](https://pypi.org/project/janusflux/) from Hugging Face Spaces: "
             f"{images} image(s) from {status['done']} item(s). `metadata.jsonl` holds one row per image (prompt, "
             f"seed, model, Space, size, steps, guidance); load it with "
             f"`datasets.load_dataset(\"imagefolder\", data_dir=...)` or pandas.")
    lines = [header, "", f"# {repo_id}", "", about, "", "## Counts", "", "| status | items |", "|---|---|"]
    lines += [f"| {s} | {status.get(s, 0)} |" for s in ("done", "failed", "pending")]
    lines += ["", "Failed and pending items are not in the dataset.", "",
              "## Models and Spaces", "", "| model | Space | images |", "|---|---|---|"]
    by_pair = Counter((str(r.get("model")), str(r.get("space"))) for r in _published(rows))
    lines += [f"| {m} | [{s}](https://huggingface.co/spaces/{s}) | {n} |" for (m, s), n in sorted(by_pair.items())]
    lines += ["", "## Parameters", "", "| parameter | values used |", "|---|---|"]
    for p in PARAMS:
        values = Counter(r.get(p) for r in done if r.get(p) is not None)
        if values:
            lines.append(f"| {p} | {', '.join(f'{v} ({n})' for v, n in sorted(values.items(), key=str))} |")
    seeds = [r.get("seed") for r in done if r.get("seed") is not None]
    lines.append(f"| seed | {len(seeds)} recorded, one per item |")
    return "\n".join(lines) + "\n"


def push_to_hub(out_dir: str | os.PathLike[str], repo_id: str, *, session: Any = None, private: bool | None = None,
                commit_message: str | None = None) -> str:
    """Upload a batch's output folder as the dataset ``repo_id`` (created when missing); returns the commit URL."""
    import httpx
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    if not isinstance(repo_id, str) or repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise InvalidInputError("repo_id", f"expected USER/NAME, got {repo_id!r}")
    out = Path(out_dir)
    rows = _rows(out)
    published = _published(rows)
    if not published:
        raise InvalidInputError("out_dir", f"no finished image in {str(out)!r} to publish")
    missing = [r["file_name"] for r in published if not (out / r["file_name"]).is_file()]
    if missing:
        raise InvalidInputError("out_dir", f"image file(s) missing: {', '.join(missing[:3])}: run the batch again")
    if session is None:
        from . import default_session

        session = default_session()
    hub = session.hf_endpoint
    token = session.token_for(hub)
    if not token:
        raise InvalidInputError("token", "publishing needs a Hugging Face token with write access")
    api = HfApi(endpoint=hub, token=token)
    with tempfile.TemporaryDirectory(prefix="janusflux-push-") as tmp:
        stage = Path(tmp)
        for r in published:
            shutil.copy2(out / r["file_name"], stage / r["file_name"])
        (stage / "metadata.jsonl").write_text(
            "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in published), encoding="utf-8")
        (stage / "README.md").write_text(dataset_card(rows, repo_id), encoding="utf-8")
        try:
            api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
            info = api.upload_folder(folder_path=stage, repo_id=repo_id, repo_type="dataset",
                                     commit_message=commit_message or f"janusflux: {len(published)} images")
        except HfHubHTTPError as e:
            status = getattr(getattr(e, "response", None), "status_code", None)
            text = " ".join(str(e).split())[:300]
            if status in (401, 403):
                raise InvalidInputError("token", f"the Hub refused to write {repo_id}: {text}") from None
            raise InvalidInputError("repo_id", f"the Hub refused the upload to {repo_id} ({status}): {text}") \
                from None
        except (httpx.HTTPError, OSError) as e:
            raise SpaceUnavailableError(f"the Hub ({hub}) is unreachable: {type(e).__name__}",
                                        stage="UNREACHABLE") from None
    return str(getattr(info, "commit_url", info))
