"""A batch's records: the crash-safe journal (``manifest.jsonl``), each run's measured allowance use
(``manifest.usage.jsonl``) and the imagefolder's ``metadata.jsonl`` (see :mod:`janusflux.batch`)."""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterator, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .batch_items import BatchItem
from .errors import InvalidInputError

__all__ = ["METADATA", "metadata_rows", "read_manifest", "read_records", "usage_path"]

log = logging.getLogger("janusflux.batch")

METADATA = "metadata.jsonl"


# -- manifest --------------------------------------------------------------------------------------------------------
def read_records(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """Every readable JSON object of a JSON-lines file, in order (a line cut short by a crash is skipped; a missing
    file has none)."""
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                if isinstance(rec, dict):
                    yield rec
    except FileNotFoundError:
        return


def read_manifest(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Every item record of a manifest, in order."""
    return [rec for rec in read_records(path) if "id" in rec and "status" in rec]


class _Manifest:
    """Append-only JSONL; every line flushed and fsynced before the call returns."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        # A crash may have cut the last line short: start on a fresh line so the next record stays readable.
        if path.exists() and path.stat().st_size > 0:
            with open(path, "rb") as f:
                f.seek(-1, os.SEEK_END)
                needs_newline = f.read(1) != b"\n"
            if needs_newline:
                with open(path, "ab") as f:
                    f.write(b"\n")
        self._f = open(path, "a", encoding="utf-8")  # noqa: SIM115 - held open until close()

    def last(self) -> dict[str, dict[str, Any]]:
        return {rec["id"]: rec for rec in read_manifest(self.path)}

    def append(self, record: Mapping[str, Any]) -> None:
        line = json.dumps(record, default=str, ensure_ascii=False) + "\n"
        with self._lock:
            self._f.write(line)
            self._f.flush()
            os.fsync(self._f.fileno())

    def close(self) -> None:
        with self._lock:
            self._f.close()


def _remove_stale_parts(out_dir: Path, items: list[BatchItem]) -> None:
    """Temporary files of ``atomic_write`` left by a killed run."""
    names = {item.file for item in items} | {f"{item.id}-" for item in items}
    for p in out_dir.glob(".*.part"):
        inner = p.name[1:]
        if any(inner.startswith(n + ".") or (n.endswith("-") and inner.startswith(n)) for n in names):
            try:
                p.unlink()
            except FileNotFoundError:
                pass


def usage_path(manifest: str | os.PathLike[str]) -> Path:
    """The file next to a journal where each run appends what it charged to the allowance (``manifest.usage.jsonl``):
    one ``{"usage": {"charged": s, "declared": s}, "time": ...}`` line per run that could measure it."""
    return Path(manifest).with_suffix(".usage.jsonl")


def _append_usage(manifest: Path, usage: Mapping[str, float]) -> None:
    line = json.dumps({"usage": dict(usage), "time": datetime.now(timezone.utc).isoformat(timespec="seconds")})
    with open(usage_path(manifest), "a", encoding="utf-8") as f:
        f.write(line + "\n")
        f.flush()
        os.fsync(f.fileno())


def _steps_and_guidance(item: BatchItem) -> tuple[Any, Any]:
    from .models import get_model

    try:
        spec = get_model(item.model)
    except InvalidInputError:
        return item.params.get("steps"), item.params.get("guidance")
    return tuple(item.params.get(k, spec.defaults.get(k) if k in spec.accepts else None)
                 for k in ("steps", "guidance"))


def metadata_rows(out_dir: str | os.PathLike[str], items: list[BatchItem],
                  journal: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """One flat row per item in its final state: ``file_name`` (None unless done), ``id``, ``prompt``, ``model``,
    ``space``, ``seed``, ``width``, ``height``, ``steps``, ``guidance``, ``aspect_ratio``, ``status`` (done, failed,
    pending), ``error``, ``elapsed``, ``line``, ``files`` (only when an item made several images), then the input's
    extra columns as they came (``input_<name>`` where a name is taken)."""
    out = Path(out_dir)
    last = {rec["id"]: rec for rec in read_manifest(journal)}
    rows = []
    for item in items:
        rec = last.get(item.id, {})
        status, error = rec.get("status", "pending"), rec.get("error")
        files = rec.get("files") or [rec.get("file")]
        if status == "done" and not all(f and (out / f).is_file() for f in files):
            status, error = "pending", "the image file is missing: run the batch again"
        done = status == "done"
        steps, guidance = _steps_and_guidance(item)
        row: dict[str, Any] = {
            "file_name": files[0] if done else None, "id": item.id, "prompt": item.prompt, "model": item.model,
            "space": rec.get("space_id") if done else None, "seed": rec.get("seed", item.params.get("seed")),
            "width": rec.get("width", item.params.get("width")), "height": rec.get("height", item.params.get("height")),
            "steps": steps, "guidance": guidance, "aspect_ratio": item.params.get("aspect_ratio"),
            "status": status, "error": error, "elapsed": rec.get("elapsed"), "line": item.line,
            "files": files if done else [],
        }
        for k, v in item.extra.items():
            row[k if k not in row else f"input_{k}"] = v
        rows.append(row)
    if all(len(r["files"]) <= 1 for r in rows):
        for r in rows:
            del r["files"]
    names = list(dict.fromkeys(k for r in rows for k in r))
    return [{k: r.get(k) for k in names} for r in rows]


def _write_metadata(out_dir: Path, items: list[BatchItem], journal: Path) -> None:
    """``metadata.jsonl``: the folder is a Hugging Face ``imagefolder`` (written whole, atomically, at the end)."""
    from .results import atomic_write

    rows = metadata_rows(out_dir, items, journal)
    text = "".join(json.dumps(r, default=str, ensure_ascii=False) + "\n" for r in rows)
    try:
        atomic_write(out_dir / METADATA, text.encode("utf-8"))
    except OSError as e:  # the journal is the record; a full disk must not hide the batch's own outcome
        log.warning("could not write %s: %s", out_dir / METADATA, e)
