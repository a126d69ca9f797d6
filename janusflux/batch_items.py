"""A batch's items: read from a file (.txt, .jsonl, .csv) or a list, normalised, with deterministic ids (see
:mod:`janusflux.batch`)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import InvalidInputError
from .params import IMAGE_SETTINGS

__all__ = ["FIELDS", "PARAMS", "BatchItem", "load_items"]

PARAMS = IMAGE_SETTINGS
FIELDS = ("prompt", "model", "id", *PARAMS)
_INTS = ("seed", "width", "height", "steps")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


# -- items -----------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class BatchItem:
    """One prompt of a batch. ``error`` is set when the item itself is invalid (it is then reported as failed)."""

    id: str
    line: int
    prompt: str | None
    model: str
    params: Mapping[str, Any]
    error: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)  # the input's other columns, kept as they came

    @property
    def file(self) -> str:
        """The image's file name, derived from the id."""
        return f"{self.id}.png"


def _number(name: str, value: Any) -> Any:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise InvalidInputError(name, f"expected a number, got {value!r}")
    if name in _INTS:
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
            return int(value)
        raise InvalidInputError(name, f"expected an int, got {value!r}")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    raise InvalidInputError(name, f"expected a number, got {value!r}")


def _normalise(raw: Mapping[str, Any], defaults: Mapping[str, Any],
               model: str) -> tuple[str | None, str, dict[str, Any]]:
    """(prompt, model, params) of a raw item over the defaults; raises InvalidInputError for a bad field. Other
    fields are not parameters: they are kept (see :attr:`BatchItem.extra`)."""
    prompt = raw.get("prompt")
    if prompt is None or (isinstance(prompt, str) and not prompt.strip()):
        raise InvalidInputError("prompt", "is missing or empty")
    if not isinstance(prompt, str):
        raise InvalidInputError("prompt", f"expected a str, got {type(prompt).__name__}")
    item_model = raw.get("model")
    if item_model is None or (isinstance(item_model, str) and not item_model.strip()):
        item_model = model
    if not isinstance(item_model, str):
        raise InvalidInputError("model", f"expected a model alias, got {item_model!r}")
    params: dict[str, Any] = {}
    for name in PARAMS:
        value = raw.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            value = defaults.get(name)
        if value is None:
            continue
        if name == "aspect_ratio":
            if not isinstance(value, str):
                raise InvalidInputError(name, f"expected 'W:H', got {value!r}")
            params[name] = value.strip()
        else:
            params[name] = _number(name, value)
    item_model = item_model.strip().lower()
    _check_model(item_model)
    return prompt.strip(), item_model, params


def _check_model(alias: str) -> None:
    """An unknown alias or a model that makes no images is the item's error, found before anything runs."""
    from .models import get_model

    spec = get_model(alias)
    if spec.kind != "text-to-image":
        raise InvalidInputError("model", f"{alias} is a {spec.kind} model; a batch makes images")


def _auto_id(line: int, payload: Any) -> str:
    digest = hashlib.sha256(f"{line}\n{json.dumps(payload, sort_keys=True, default=str)}".encode()).hexdigest()
    return f"{line:05d}-{digest[:10]}"


def _rows(source: Any) -> Iterable[tuple[int, Any]]:
    """(line number, raw item or an exception) from a path or an iterable."""
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        suffix = path.suffix.lower()
        if suffix not in (".txt", ".jsonl", ".csv"):
            raise InvalidInputError("input", f"expected a .txt, .jsonl or .csv file, got {str(path)!r}")
        try:
            text = path.read_text(encoding="utf-8-sig")
        except FileNotFoundError as e:
            raise InvalidInputError("input", f"no such file: {str(path)!r}") from e
        except UnicodeDecodeError as e:
            raise InvalidInputError("input", f"not UTF-8 text: {str(path)!r}") from e
        if suffix == ".txt":
            for n, line in enumerate(text.splitlines(), 1):
                if line.strip() and not line.lstrip().startswith("#"):
                    yield n, {"prompt": line.strip()}
        elif suffix == ".jsonl":
            for n, line in enumerate(text.splitlines(), 1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except ValueError as e:
                    yield n, InvalidInputError("input", f"line {n} is not JSON ({e.args[0]})")
                    continue
                yield n, {"prompt": obj} if isinstance(obj, str) else obj
        else:
            reader = csv.DictReader(io.StringIO(text))
            if reader.fieldnames is None or "prompt" not in [f.strip() for f in reader.fieldnames]:
                raise InvalidInputError("input", "a .csv needs a header row with a 'prompt' column")
            for row in reader:
                n = reader.line_num
                if not any((v or "").strip() for v in row.values() if isinstance(v, str)):
                    continue
                if None in row:  # more cells than headers
                    yield n, InvalidInputError("input", f"line {n} has more cells than the header")
                    continue
                yield n, {k.strip(): (v.strip() if isinstance(v, str) else v) for k, v in row.items()}
        return
    if isinstance(source, (bytes, Mapping)):
        raise InvalidInputError("input", "expected a path or a list of prompts / item dicts")
    for n, obj in enumerate(source, 1):
        yield n, {"prompt": obj} if isinstance(obj, str) else obj


def load_items(source: Any, *, model: str = "flux", **defaults: Any) -> list[BatchItem]:
    """Read and normalise a batch's items. A bad file raises :class:`InvalidInputError`; a bad item is returned with
    its ``error`` set (the batch reports it as failed and goes on)."""
    bad = sorted(k for k in defaults if k not in PARAMS)
    if bad:
        raise InvalidInputError(bad[0], f"unknown batch default; give {', '.join(PARAMS)}")
    items: list[BatchItem] = []
    seen: set[str] = set()
    for line, raw in _rows(source):
        error: str | None = None
        prompt, item_model = None, model
        params: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        explicit = None
        try:
            if isinstance(raw, Exception):
                raise raw
            if not isinstance(raw, Mapping):
                raise InvalidInputError("input",
                                        f"line {line}: expected an object or a prompt, got {type(raw).__name__}")
            explicit = raw.get("id")
            if explicit is not None and str(explicit).strip() != "":
                explicit = str(explicit).strip()
                if not _ID.match(explicit):
                    explicit = None
                    raise InvalidInputError("id", "use letters, digits, '.', '_' or '-' (at most 100)")
            else:
                explicit = None
            extra = {str(k): v for k, v in raw.items() if k not in FIELDS}
            prompt, item_model, params = _normalise(raw, defaults, model)
        except InvalidInputError as e:
            error = f"{type(e).__name__}: {e}"
        payload = {"prompt": prompt, "model": item_model, "params": params} if error is None else \
            {"raw": raw if not isinstance(raw, Exception) else str(raw)}
        item_id = explicit or _auto_id(line, payload)
        if item_id in seen:
            error = error or f"InvalidInputError: id: duplicate id {item_id!r}"
            item_id = _auto_id(line, {"duplicate": item_id})
        seen.add(item_id)
        items.append(BatchItem(id=item_id, line=line, prompt=prompt, model=item_model, params=params, error=error,
                               extra=extra))
    return items
