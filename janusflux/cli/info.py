"""``janusflux models``, ``doctor``, ``quota`` and ``serve``."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from .common import EXIT_OK, EXIT_UNAVAILABLE, _emit_json, _one_line, _session


def _range(r: Any) -> str:
    """``lo..hi step s`` with whole numbers in full (``Range.__str__`` writes 2147483647 as 2.14748e+09)."""
    step = f" step {r.step:.12g}" if r.step else ""
    return f"{r.lo:.12g}..{r.hi:.12g}{step}"


def cmd_models(args: argparse.Namespace) -> int:
    from ..models import list_models

    rows: list[dict[str, Any]] = []
    for alias, spec in sorted(list_models().items()):
        rows.append({"alias": alias, "kind": spec.kind, "family": spec.family, "spaces": list(spec.spaces),
                     "endpoint": spec.api_name, "limits": {k: _range(v) for k, v in spec.limits.items()},
                     "defaults": dict(spec.defaults), "fixed_size": spec.fixed_size,
                     "zerogpu_duration": spec.zerogpu_duration, "description": spec.description})
    if args.json:
        _emit_json(rows)
        return EXIT_OK
    for r in rows:
        print(f"{r['alias']:20} {r['kind']:14} {', '.join(r['spaces'])}")
        limits = "; ".join(f"{k} {v}" for k, v in r["limits"].items())
        print(f"{'':20} {r['endpoint']}  limits: {limits}")
        if r["defaults"]:
            print(f"{'':20} defaults: {', '.join(f'{k}={v}' for k, v in r['defaults'].items())}")
        if r["description"]:
            print(f"{'':20} {r['description']}")
    return EXIT_OK


def cmd_doctor(args: argparse.Namespace) -> int:
    from .. import __version__
    from ..local import local_requested
    from ..models import list_models
    from ..session import redact

    report: dict[str, Any] = {"version": __version__, "local": local_requested(args.local)}
    with _session(args, timeout=None) as session:
        hub = session.hf_endpoint
        token = session.token_for(hub)
        report["hub"] = {"endpoint": hub}
        report["token"] = {"source": session.token_source, "token": redact(token) if token else None}
        import httpx

        headers = {"authorization": f"Bearer {token}"} if token else {}
        t0 = time.monotonic()
        try:
            with httpx.Client(timeout=args.timeout, follow_redirects=True) as http:
                r = http.get(f"{hub}/api/whoami-v2", headers=headers)
                report["hub"].update(reachable=True, status=r.status_code,
                                     ms=round((time.monotonic() - t0) * 1000))
                if token and r.status_code == 200:
                    report["token"]["user"] = r.json().get("name")
                    report["token"]["zerogpu"] = _zerogpu_token_check(http, hub, headers)
                elif token:
                    report["token"]["user"] = None
                    report["token"]["problem"] = f"the Hub refused the token ({r.status_code})"
        except httpx.HTTPError as e:
            report["hub"].update(reachable=False, error=type(e).__name__)

        from huggingface_hub import HfApi

        api = HfApi(endpoint=hub)
        spaces: dict[str, Any] = {}
        if report["hub"]["reachable"]:
            for space_id in sorted({s for spec in list_models().values() for s in spec.spaces if "/" in s
                                    and not s.startswith(("http://", "https://"))}):
                try:
                    rt = api.get_space_runtime(space_id, token=token or False)
                    spaces[space_id] = {"stage": str(getattr(rt.stage, "value", rt.stage)),
                                        "hardware": getattr(rt, "hardware", None)}
                except Exception as e:  # noqa: BLE001 - reported, not raised
                    spaces[space_id] = {"stage": None, "error": _one_line(f"{type(e).__name__}: {e}")[:200]}
        report["spaces"] = spaces
        quota: dict[str, Any] = {}
        if not token:
            quota["note"] = "no token: ZeroGPU counts anonymous calls per IP address (quota not reported)"
        elif report["hub"]["reachable"]:
            try:
                q = api.get_zero_gpu_quota(token=token)
                quota.update(base=q.base, remaining=q.remaining,
                             resets_at=q.resets_at.isoformat() if q.resets_at else None,
                             overquota_used=getattr(q, "overquota_used", None))
            except Exception as e:  # noqa: BLE001
                quota["error"] = _one_line(f"{type(e).__name__}: {e}")[:200]
        report["zerogpu_quota"] = quota
    text = json.dumps(report, default=str)
    if token and token in text:  # belt and braces: a token never leaves in the output
        text = text.replace(token, redact(token))
        report = json.loads(text)
    if args.json:
        print(text)
    else:
        _print_doctor(report)
    return EXIT_OK if report["hub"].get("reachable") else EXIT_UNAVAILABLE


def _zerogpu_token_check(http: Any, hub: str, headers: dict[str, str]) -> str:
    """Whether the Hub issues a ZeroGPU token for FLUX.1-dev with this HF token: without one, ZeroGPU Spaces fall
    back to IP-based quota ("InvalidRepoToken") and the token's quota is not applied."""
    from ..models import get_model
    from ..zerogpu import jwt_url

    space = next(s for s in get_model("flux").spaces if "/" in s)
    url, query = jwt_url(hub, space)
    status = http.get(url, params=query, headers=headers).status_code
    if status == 200:
        return "ok"
    return (f"the Hub refused a ZeroGPU token ({status}): Spaces will count you by IP and your token's quota "
            "will not apply; check the token's validity and permissions")


def _print_doctor(r: dict[str, Any]) -> None:
    hub = r["hub"]
    where = " (local twins)" if r["local"] else ""
    state = (f"reachable (HTTP {hub['status']}, {hub['ms']} ms)" if hub.get("reachable")
             else f"UNREACHABLE ({hub.get('error')})")
    print(f"janusflux {r['version']}")
    print(f"hub:    {hub['endpoint']}{where}: {state}")
    tok = r["token"]
    user = f", user {tok['user']}" if tok.get("user") else ""
    problem = f" ({tok['problem']})" if tok.get("problem") else ""
    print(f"token:  {tok['source']}" + (f" ({tok['token']}){user}{problem}" if tok.get("token") else ""))
    if tok.get("zerogpu"):
        print(f"zerogpu token: {tok['zerogpu']}")
    for space_id, s in r["spaces"].items():
        print(f"space:  {space_id:34} {s.get('stage') or 'unknown: ' + str(s.get('error'))}")
    q = r["zerogpu_quota"]
    if "remaining" in q:
        resets = f", resets at {q['resets_at']}" if q.get("resets_at") else ""
        print(f"quota:  {q['remaining']:g}s of {q['base']:g}s ZeroGPU left{resets}")
    else:
        print(f"quota:  {q.get('note') or q.get('error')}")


def cmd_quota(args: argparse.Namespace) -> int:
    """``janusflux quota``: huggingface_hub ``get_zero_gpu_quota`` against the session's Hub endpoint."""
    from ..allowance import quota

    with _session(args, timeout=None) as session:
        q = quota(session)
    if args.json:
        _emit_json(q.to_dict())
    else:
        print(q)
    return EXIT_OK


def cmd_serve(args: argparse.Namespace) -> int:
    if getattr(args, "twins_missing", False):
        raise ImportError("`janusflux serve` needs the twins extra: pip install 'janusflux[twins]'")
    from ..twins import cli as twins_cli

    return int(twins_cli.run(args) or 0)
