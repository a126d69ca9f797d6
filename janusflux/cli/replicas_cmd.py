"""``janusflux replicas create|list|pause|delete``: your own copies of a model's Space on dedicated hardware (see
:mod:`janusflux.replicas`). Tokens are never printed: only Space ids, stages, hardware and prices."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .common import EXIT_INVALID, EXIT_OK, _emit_json, _session


def add_replicas_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    r = sub.add_parser("replicas", help="your private copies of a model's Space on dedicated hardware",
                       usage="janusflux replicas {create,list,pause,delete} ...")
    rs = r.add_subparsers(dest="replicas_command", metavar="ACTION")
    rs.required = True
    c = rs.add_parser("create", parents=[common], help="duplicate the model's Space privately and wait until it runs")
    c.add_argument("model", metavar="MODEL", help="model alias, e.g. flux-dev (its official Space is copied)")
    c.add_argument("--count", type=int, default=1, metavar="N", help="how many replicas (default 1)")
    c.add_argument("--hardware", required=True, metavar="HW", help="Spaces hardware, e.g. a10g-large, l4x1")
    c.add_argument("--sleep-time", type=int, default=None, metavar="S",
                   help="seconds of inactivity before a replica sleeps (stops billing); default: never")
    c.add_argument("--public", action="store_true", help="make the copies public (default private)")
    c.add_argument("--timeout", type=float, default=1800.0, metavar="S",
                   help="seconds to wait until they run (default 1800)")
    rs.add_parser("list", parents=[common], help="stage, hardware, sleep time and cost per hour of each replica")
    p = rs.add_parser("pause", parents=[common], help="pause a replica (no billing until restarted)")
    p.add_argument("name", metavar="NAME", help="the replica's Space id or name")
    d = rs.add_parser("delete", parents=[common], help="delete a replica's Space and remove it from the list")
    d.add_argument("name", metavar="NAME", help="the replica's Space id or name")
    d.add_argument("--yes", "-y", action="store_true", help="do not ask")


def cmd_replicas(args: argparse.Namespace) -> int:
    from .. import replicas

    action = args.replicas_command
    if action == "create":
        # every input is checked before the session (and --local's twins) starts
        replicas.check_create(args.model, args.count, args.hardware, args.sleep_time, not args.public, args.timeout)
    if action == "delete" and not args.yes:
        if not sys.stdin.isatty():
            print("error: InvalidInputError: yes: deleting a Space cannot be undone: add --yes", file=sys.stderr)
            return EXIT_INVALID
        if input(f"delete the Space {args.name}? It cannot be undone [y/N] ").strip().lower() not in ("y", "yes"):
            return EXIT_OK
    with _session(args, timeout=None) as session:
        if action == "create":
            made = replicas.create_replicas(args.model, args.count, hardware=args.hardware,
                                            sleep_time=args.sleep_time, session=session, private=not args.public,
                                            timeout=args.timeout)
            rows: list[Any] = [r.to_dict() for r in made]
            lines = [f"{r.space_id}: running on {r.hardware} (copy of {r.source})" for r in made]
        elif action == "list":
            status = replicas.list_replicas(session=session)
            rows = [s.to_dict() for s in status]
            lines = [str(s) for s in status] or [f"no replicas on {session.hf_endpoint} "
                                                 f"(the list: {replicas.replicas_path()})"]
        elif action == "pause":
            stage = replicas.pause_replica(args.name, session=session)
            rows, lines = [{"name": args.name, "stage": stage}], [f"{args.name}: {stage}"]
        else:
            gone = replicas.delete_replica(args.name, session=session)
            rows, lines = [gone.to_dict()], [f"{gone.space_id}: deleted"]
    if args.json:
        _emit_json(rows)
    else:
        print("\n".join(lines))
    return EXIT_OK
