"""No network beyond loopback: refuse, and record, every name lookup or connection to a host that is not loopback.

Part of the testing kit: the offline tests and the benchmark harness use it to prove what leaves the machine (nothing
from janusflux), and anyone testing code that drives janusflux against the twins can use it the same way.

* In this process: ``install(on_refuse)``; ``on_refuse(kind, host)`` is called for each refused ``"lookup"`` (raises
  ``socket.gaierror``) or ``"connect"`` (raises ``ConnectionRefusedError``), in the thread that asked.
* In a child process, from its very start: :func:`child_env` writes a ``sitecustomize.py`` that installs the guard
  and returns the environment to run the child with; every refusal is appended to a JSON-lines log
  (``{"kind", "host", "stack"}``), read back with :func:`read_log`.

Standard library only, and loaded by file path in the child, so the guard is in place before anything (janusflux,
huggingface_hub, gradio_client) is imported and changes nothing else the child sees.
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

__all__ = ["ENV_LOG", "child_env", "install", "is_loopback", "read_log"]

ENV_LOG = "JANUSFLUX_NETGUARD_LOG"  # the child's log of refusals (set by child_env)
_SITECUSTOMIZE = (
    "import importlib.util as _u\n"
    "_s = _u.spec_from_file_location('janusflux_netguard', {path!r})\n"
    "_m = _u.module_from_spec(_s)\n"
    "_s.loader.exec_module(_m)\n"
    "_m.install_from_env()\n"
)


def is_loopback(host: Any) -> bool:
    """Whether a lookup or connection to ``host`` stays on this machine (``None``/empty: the wildcard, local)."""
    if host is None:
        return True
    h = host.decode() if isinstance(host, bytes) else str(host)
    if h in ("localhost", "", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(h.strip("[]").split("%")[0]).is_loopback
    except ValueError:
        return False


def install(on_refuse: Callable[[str, str], None]) -> None:
    """Refuse every lookup and connection beyond loopback in this process (once; later calls change nothing)."""
    if getattr(socket, "_janusflux_netguard", False):
        return
    real_gai, real_connect, real_connect_ex = socket.getaddrinfo, socket.socket.connect, socket.socket.connect_ex

    def getaddrinfo(host: Any, *a: Any, **k: Any) -> Any:
        if not is_loopback(host):
            on_refuse("lookup", str(host))
            raise socket.gaierror(socket.EAI_NONAME, f"netguard: no network beyond loopback ({host})")
        return real_gai(host, *a, **k)

    def check(addr: Any) -> None:
        if isinstance(addr, tuple) and not is_loopback(addr[0]):  # AF_UNIX addresses are str: local
            on_refuse("connect", str(addr[0]))
            raise ConnectionRefusedError(f"netguard: no network beyond loopback ({addr[0]})")

    def connect(self: socket.socket, addr: Any) -> Any:
        check(addr)
        return real_connect(self, addr)

    def connect_ex(self: socket.socket, addr: Any) -> Any:
        check(addr)
        return real_connect_ex(self, addr)

    socket.getaddrinfo = getaddrinfo
    socket.socket.connect = connect  # type: ignore[method-assign,assignment]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign,assignment]
    socket._janusflux_netguard = True  # type: ignore[attr-defined]


def install_from_env() -> None:
    """The child's side of :func:`child_env`: install the guard, logging each refusal with its stack."""
    log = os.environ.get(ENV_LOG)
    if not log:
        return

    def record(kind: str, host: str) -> None:
        with open(log, "a", encoding="utf-8") as f:
            f.write(json.dumps({"kind": kind, "host": host, "stack": traceback.format_stack()[-40:-2]}) + "\n")

    install(record)


def child_env(folder: str | os.PathLike[str], log: str | os.PathLike[str],
              base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a child process guarded from its start: ``base`` (default ``os.environ``) with a
    ``sitecustomize.py`` (written into ``folder``) first on ``PYTHONPATH`` and the log at ``log``."""
    Path(folder).mkdir(parents=True, exist_ok=True)
    (Path(folder) / "sitecustomize.py").write_text(_SITECUSTOMIZE.format(path=os.path.abspath(__file__)))
    env = dict(os.environ if base is None else base)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (os.fspath(folder), env.get("PYTHONPATH", "")) if p)
    env[ENV_LOG] = os.fspath(log)
    return env


def read_log(log: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The refusals a guarded child recorded (``[]`` when it recorded none)."""
    path = Path(log)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
