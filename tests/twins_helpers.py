"""Helpers for the twin tests: a raw sse_v3 client (fn_index + data, as a hand-written client would send)."""

from __future__ import annotations

import json
import uuid

import httpx


def raw_call(base: str, fn_index: int, data: list, headers: dict | None = None, timeout: float = 30.0) -> list[dict]:
    """POST queue/join, read queue/data until process_completed; returns every message received."""
    session = uuid.uuid4().hex
    with httpx.Client(base_url=base, timeout=timeout, headers=headers or {}) as http:
        r = http.post("/gradio_api/queue/join",
                      json={"data": data, "fn_index": fn_index, "session_hash": session, "event_data": None,
                            "trigger_id": None})
        r.raise_for_status()
        messages = []
        with http.stream("GET", "/gradio_api/queue/data", params={"session_hash": session}) as stream:
            for line in stream.iter_lines():
                if not line.startswith("data:"):
                    continue
                msg = json.loads(line[5:])
                messages.append(msg)
                if msg.get("msg") == "process_completed":
                    break
        return messages
