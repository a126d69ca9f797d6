"""Test kit for code that calls janusflux: record Space traffic once as VCR cassettes, replay it offline after.

Loaded by pytest as a plugin (entry point ``janusflux``, registered by the base package: setuptools has no per-extra
entry points). Loading it does nothing to the process: it sets no environment variable, patches nothing and imports
nothing heavy; it only adds the ``--janusflux-*`` options, the ``janusflux_cassette`` marker and the fixtures below.
What the fixtures need comes with ``janusflux[test]`` (vcrpy) and ``janusflux[twins]`` (gradio): vcrpy, gradio and
the SDK are imported by the fixtures that use them (without vcrpy the fixtures skip, without gradio recording
against the twins skips). So a project that has janusflux installed but never requests a ``janusflux_*`` fixture
runs exactly as without it.

Fixtures:
    janusflux_cassette   record once, replay after. Replay (the cassette exists): vcrpy with record_mode "none",
                         every interaction played once in recorded order, all of them played, and the network
                         blocked (any ``socket.connect`` raises :class:`NetworkBlocked`). Record (the cassette is
                         missing, or ``--janusflux-record``): the local twins are started on a fixed port and only
                         loopback is reachable. Inside it, ``janusflux.generate()`` and friends use a default
                         session on the twins (also given as ``janusflux_cassette.session``).
                         ``@pytest.mark.janusflux_cassette("name", twins={...}, session={...})`` names the
                         cassette (default ``<module>__<test>``), asks for a dedicated twin fleet (``start_twins``
                         keywords, e.g. a tiny ``quota``; its own fixed ``port``) and passes Session options;
                         ``twins_only=True`` skips it with ``--janusflux-real`` (it sets faults or stages on
                         ``janusflux_cassette.fleet``); ``allow_unplayed=True`` lets a replay leave interactions
                         unused (by default that fails: the code under test changed).
    janusflux_session    that default session.
    janusflux_twins      the twins (session-scoped, fixed port: ``--janusflux-port`` or ``JANUSFLUX_TWINS_PORT``,
                         default 47860; the Hub twin listens there, Space twin i on port + 1 + i).
    janusflux_cassette_dir   where cassettes go (default: ``cassettes/`` beside the test file); override it.

Options: ``--janusflux-record`` (re-record every cassette used), ``--janusflux-record-mode=once|all|none``
(``none``: a missing cassette fails instead of recording: use it in CI), ``--janusflux-real`` (see below),
``--janusflux-port=N``.

The project's own cassettes (``cassettes/`` at the top of the repository, one per scenario of ``tests/replay``) are
recorded from scratch from the local twins with one command::

    pytest tests/replay --janusflux-record      # or: python -m janusflux.testing record

and replayed, twins stopped and network blocked, by ``pytest tests/replay``. Against the real Spaces on
huggingface.co (needs ``HF_TOKEN`` and the network, so it cannot run on the offline development machines; scenarios
that need twin fault knobs skip)::

    HF_TOKEN=hf_... pytest tests/replay --janusflux-record --janusflux-real
    HF_TOKEN=hf_... python -m janusflux.testing record --real   # the same

writes ``cassettes/real/`` (replayed with ``pytest tests/replay --janusflux-real``).

What the VCR configuration (:func:`janusflux_vcr_config`) does to what it records:
    * gradio_client's random ``session_hash`` becomes :data:`SESSION_HASH` in the queue/join body, the queue/data
      query and the heartbeat path, and the JWT request's ``expiration`` query (the current time) becomes
      :data:`JWT_EXPIRATION`: vcrpy applies ``before_record_request`` before matching on replay too;
    * multipart boundaries (random in httpx) and janusflux's temporary input names (``janusflux-in-*.png``) are fixed;
    * token headers and cookies are dropped (:data:`SECRET_HEADERS`, ``set-cookie`` in responses), JWTs in
      response bodies (the Hub's ``/jwt`` answer) become :data:`FAKE_JWT`;
    * secrets are scrubbed from every URI, header value and body, requests and responses (:class:`Scrubber`): the
      session's token, ZeroGPU token and ip token and ``HF_TOKEN`` (the values the fixture knows), every cookie value a
      response set (8 characters or more), anything shaped like an HF token (``hf_`` + 20 or more letters and digits)
      or a ``Bearer`` credential; they become :data:`SCRUBBED`;
    * before a cassette is written, it is scanned for all of the above (and JWTs); if one is still there the cassette
      is NOT written and :class:`CassetteSecretError` names what was found, redacted (with :func:`janusflux_vcr`;
      :func:`janusflux_vcr_config` alone, e.g. for pytest-recording, scrubs but cannot refuse);
    * heartbeat streams (``/heartbeat/``) are never recorded, and recorded ``/config`` answers say
      ``connect_heartbeat: false`` so a replayed client does not open one;
    * requests match on method, scheme, host, port, path, query and body.
Seeds drawn by the SDK are random and go into the request body: code under a cassette must pass ``seed=``.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import socket
import sys
import threading
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .vcrkit import (
    FAKE_JWT,
    INPUT_NAME,
    JWT_EXPIRATION,
    MATCH_ON,
    MULTIPART_BOUNDARY,
    NOISE_HEADERS,
    SCRUBBED,
    SECRET_HEADERS,
    SESSION_HASH,
    CassetteSecretError,
    Scrubber,
    janusflux_vcr,
    janusflux_vcr_config,
    normalize_request,
    scrub_response,
)

try:
    import pytest
except ImportError:  # the VCR helpers work without pytest; the fixtures need it
    pytest = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from .session import Session
    from .twins import TwinFleet

__all__ = [
    "DEFAULT_PORT",
    "FAKE_JWT",
    "INPUT_NAME",
    "JWT_EXPIRATION",
    "MATCH_ON",
    "MULTIPART_BOUNDARY",
    "NOISE_HEADERS",
    "SCRUBBED",
    "SECRET_HEADERS",
    "SESSION_HASH",
    "TWIN_TOKEN",
    "CassetteSecretError",
    "JanusfluxCassette",
    "NetworkBlocked",
    "Scrubber",
    "block_network",
    "hub_url",
    "janusflux_vcr",
    "janusflux_vcr_config",
    "normalize_request",
    "scrub_response",
]

DEFAULT_PORT = 47860
HOST = "127.0.0.1"
REAL_ENDPOINT = "https://huggingface.co"
# A fake token: the Hub twin treats any hf_ token as a free user. It is never recorded (headers are filtered), and it
# has the shape of a real token so that the cassette secret scan would catch it if it ever leaked.
TWIN_TOKEN = "hf_JanusfluxTwinsRecordingToken0000"

# -- the network guard -------------------------------------------------------------------------------------------
class NetworkBlocked(ConnectionRefusedError):
    """A connection the test kit refused (an ``OSError``, so HTTP clients report it as a connection error)."""


_guard_lock = threading.Lock()
_guard_allow: list[Any] = []  # stack of predicates; the innermost decides


def _guarded(real: Any) -> Any:
    def connect(self: socket.socket, address: Any, *args: Any) -> Any:
        allow = _guard_allow[-1] if _guard_allow else None
        if allow is not None and self.family in (socket.AF_INET, socket.AF_INET6) and not allow(address):
            raise NetworkBlocked(f"janusflux.testing blocked a connection to {address!r}")
        return real(self, address, *args)

    return connect


@contextlib.contextmanager
def block_network(allow_loopback: bool = False) -> Iterator[None]:
    """Refuse every IP connection (or every one but loopback) made through ``socket.socket.connect``."""
    def allow(address: Any) -> bool:
        host = str(address[0]) if isinstance(address, tuple) else str(address)
        return allow_loopback and (host.startswith("127.") or host in ("::1", "localhost"))

    with _guard_lock:
        if not _guard_allow:
            _guard_allow.append(None)  # marks the patch as installed
            socket.socket._janusflux_real = (socket.socket.connect, socket.socket.connect_ex)  # type: ignore[attr-defined]
            socket.socket.connect = _guarded(socket.socket.connect)  # type: ignore[method-assign]
            socket.socket.connect_ex = _guarded(socket.socket.connect_ex)  # type: ignore[method-assign]
        _guard_allow.append(allow)
    try:
        yield
    finally:
        with _guard_lock:
            _guard_allow.remove(allow)
            if _guard_allow == [None]:
                _guard_allow.clear()
                real = socket.socket._janusflux_real  # type: ignore[attr-defined]
                socket.socket.connect, socket.socket.connect_ex = real  # type: ignore[method-assign]
                del socket.socket._janusflux_real  # type: ignore[attr-defined]


@contextlib.contextmanager
def _no_heartbeat() -> Iterator[None]:
    """While recording, gradio_client's heartbeat thread does nothing: vcrpy would buffer the endless stream."""
    try:
        from gradio_client import Client
    except ImportError:
        yield
        return
    real = Client.__dict__["_stream_heartbeat"]
    Client._stream_heartbeat = staticmethod(lambda *a, **k: None)
    try:
        yield
    finally:
        Client._stream_heartbeat = real


def hub_url(port: int, host: str = HOST) -> str:
    """The Hub twin's URL for a fleet started with ``port=port`` (what a replay session is pointed at)."""
    return f"http://{host}:{port}"


# -- the pytest plugin -------------------------------------------------------------------------------------------
@dataclass
class JanusfluxCassette:
    """What ``janusflux_cassette`` gives a test."""

    path: Path
    recording: bool
    hub_url: str
    session: Session
    fleet: TwinFleet | None = None  # the live twins while recording against them (None on replay)
    cassette: Any = None  # the vcrpy Cassette
    real: bool = False

    @property
    def requests(self) -> list[Any]:
        """The (normalised) requests of the cassette, in recorded order."""
        return list(self.cassette.requests) if self.cassette is not None else []


def _port(config: Any) -> int:
    value = config.getoption("janusflux_port", None) or os.environ.get("JANUSFLUX_TWINS_PORT") or DEFAULT_PORT
    return int(value)


def _need(module: str, why: str) -> None:
    import importlib

    try:
        importlib.import_module(module)
    except ImportError:
        pytest.skip(f"janusflux.testing needs {module} {why}")


def _start_fleet(**kwargs: Any) -> TwinFleet:
    _need("gradio", "to record against the local twins (pip install 'janusflux[twins]')")
    from .twins import start_twins

    kwargs.setdefault("delay", 0.002)
    kwargs.setdefault("quota", 1e9)
    return start_twins(**kwargs)


def _reset_fleet(fleet: TwinFleet) -> None:
    fleet.clear_faults()
    for space in fleet.urls:
        fleet.set_stage(space, "RUNNING")
    fleet.reset_quota()


if pytest is not None:

    def pytest_addoption(parser: Any) -> None:
        group = parser.getgroup("janusflux", "janusflux cassettes and twins")
        group.addoption("--janusflux-record", action="store_const", const="all", dest="janusflux_record_mode",
                        help="re-record every janusflux cassette the selected tests use")
        group.addoption("--janusflux-record-mode", choices=("once", "all", "none"), dest="janusflux_record_mode",
                        default=None, help="once (default): record missing cassettes; all: re-record; none: never "
                                           "record (a missing cassette fails)")
        group.addoption("--janusflux-real", action="store_true", default=False, dest="janusflux_real",
                        help="record from / replay cassettes of the real Spaces on huggingface.co (needs HF_TOKEN)")
        group.addoption("--janusflux-port", type=int, default=None, dest="janusflux_port",
                        help=f"fixed base port of the twins (default JANUSFLUX_TWINS_PORT or {DEFAULT_PORT})")

    def pytest_configure(config: Any) -> None:
        config.addinivalue_line("markers", "janusflux_cassette(name=None, twins=None, session=None, twins_only=False, "
                                           "allow_unplayed=False): the cassette's name, a dedicated twin fleet "
                                           "(start_twins keywords), Session options; twins_only: skip with "
                                           "--janusflux-real; allow_unplayed: replay need not use every interaction")

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(item: Any, call: Any) -> Generator[None, Any, None]:
        """A request missing from a replayed cassette reaches the test as a janusflux error: say it in plain words."""
        outcome = yield
        report = outcome.get_result()
        unmatched = _unmatched_request(call.excinfo.value) if call.excinfo is not None else None
        if unmatched is not None and report.failed:
            report.sections.append(("janusflux cassette", (
                f"this request is not in the cassette: {unmatched}\n"
                "the code under test made a call that was not recorded (other parameters, or another number of "
                "calls); re-record with --janusflux-record")))
            report.longrepr = f"{report.longrepr}\n\njanusflux: a request is not in the cassette: {unmatched}"

    @pytest.fixture(scope="session")
    def janusflux_twins(pytestconfig: Any) -> Iterator[TwinFleet]:
        """The local twins on the fixed port (started on first use, stopped at the end of the test session)."""
        fleet = _start_fleet(port=_port(pytestconfig))
        try:
            yield fleet
        finally:
            fleet.stop()

    @pytest.fixture
    def janusflux_cassette_dir(request: Any) -> Path:
        """Where ``janusflux_cassette`` keeps cassettes: ``cassettes/`` beside the test file. Override it."""
        return Path(request.node.fspath).parent / "cassettes"

    @pytest.fixture
    def janusflux_cassette(request: Any, janusflux_cassette_dir: Path, tmp_path: Path) -> Iterator[JanusfluxCassette]:
        """Record the test's Space traffic once (against the twins), replay it offline after (network blocked)."""
        _need("vcr", "(pip install 'janusflux[test]')")
        import janusflux

        config = request.config
        marker = request.node.get_closest_marker("janusflux_cassette")
        margs = dict(marker.kwargs) if marker else {}
        name = (marker.args[0] if marker and marker.args else margs.pop("name", None)) or \
            f"{Path(str(request.node.fspath)).stem}__{request.node.name}"
        name = re.sub(r"[^A-Za-z0-9_.\-]+", "-", name)
        real = bool(config.getoption("janusflux_real"))
        folder = Path(janusflux_cassette_dir) / ("real" if real else "")
        path = folder / f"{name}.yaml"
        mode = config.getoption("janusflux_record_mode") or "once"
        recording = mode == "all" or (mode == "once" and not path.exists())
        twins_kw = dict(margs.get("twins") or {})
        session_kw: dict[str, Any] = {"max_wait": 30.0, "cache_dir": str(tmp_path / "janusflux-cache")}
        session_kw.update(margs.get("session") or {})
        if real and (twins_kw or margs.get("twins_only")):
            pytest.skip("this scenario needs the twins' fault knobs or stages; it exists for the twins only")
        if not recording and not path.exists():
            pytest.fail(f"no cassette {path}; record it with --janusflux-record (or --janusflux-record-mode=once)")

        fleet = own_fleet = None
        port = int(twins_kw.get("port") or _port(config))
        if real:
            hub, guard = REAL_ENDPOINT, (contextlib.nullcontext() if recording else block_network())
            if recording and not os.environ.get("HF_TOKEN"):
                pytest.skip("recording from the real Spaces needs HF_TOKEN (and huggingface.co)")
            session_kw.setdefault("token", os.environ.get("HF_TOKEN") or TWIN_TOKEN)
        else:
            hub = hub_url(port)
            session_kw.setdefault("token", TWIN_TOKEN)
            if recording:
                if twins_kw:
                    own_fleet = fleet = _start_fleet(**{**twins_kw, "port": port})
                else:
                    fleet = request.getfixturevalue("janusflux_twins")
                    _reset_fleet(fleet)
                hub = fleet.hub_url
            guard = block_network(allow_loopback=recording)
        if recording:
            folder.mkdir(parents=True, exist_ok=True)
            path.unlink(missing_ok=True)
        secrets = [session_kw.get(k) for k in ("token", "zerogpu_token", "ip_token")] + [os.environ.get("HF_TOKEN")]
        my_vcr = janusflux_vcr(folder, secrets=secrets, record_mode="all" if recording else "none")
        try:
            with contextlib.ExitStack() as stack:
                stack.enter_context(guard)
                if recording:
                    stack.enter_context(_no_heartbeat())
                cass = stack.enter_context(my_vcr.use_cassette(path.name))
                from .inputs import seed_source

                stack.enter_context(seed_source(random.Random(name)))  # the same drawn seeds on record and replay
                session = janusflux.configure(hf_endpoint=hub, **session_kw)
                jc = JanusfluxCassette(path=path, recording=recording, hub_url=hub, session=session, fleet=fleet,
                                       cassette=cass, real=real)
                try:
                    yield jc
                finally:
                    janusflux.close()
                if not recording and not margs.get("allow_unplayed", False) and not cass.all_played:
                    left = [f"{r.method} {r.uri}" for i, (r, _) in enumerate(cass.data) if not cass.play_counts[i]]
                    pytest.fail(f"{len(left)} recorded request(s) of {path.name} were not replayed (the code under "
                                f"test changed? re-record with --janusflux-record): {left[:5]}")
        finally:
            if own_fleet is not None:
                own_fleet.stop()
            elif fleet is not None:
                _reset_fleet(fleet)

    @pytest.fixture
    def janusflux_session(janusflux_cassette: JanusfluxCassette) -> Session:
        """The session the cassette's test runs on (also janusflux's default session meanwhile)."""
        return janusflux_cassette.session


def _unmatched_request(error: BaseException) -> str | None:
    """The request vcrpy refused to play (``CannotOverwriteExistingCassetteException``) somewhere in ``error``'s
    chain, as ``METHOD URI``; None when the error has another cause."""
    seen: set[int] = set()
    e: BaseException | None = error
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if type(e).__name__ == "CannotOverwriteExistingCassetteException":
            m = re.search(r"No match for the request \(<Request \((\w+)\) ([^>]+)>\)", str(e))
            return f"{m.group(1)} {m.group(2)}" if m else str(e).splitlines()[0]
        e = e.__cause__ or e.__context__
    return None


def _main(argv: list[str]) -> int:
    """``python -m janusflux.testing record [--real] [pytest args]``: re-record the project's cassettes."""
    if not argv or argv[0] != "record":
        print("usage: python -m janusflux.testing record [--real] [tests/replay] [pytest options]", file=sys.stderr)
        return 2
    rest = argv[1:]
    args = ["--janusflux-record"]
    if "--real" in rest:
        rest.remove("--real")
        args.append("--janusflux-real")
    if not any(not a.startswith("-") for a in rest):
        rest.append("tests/replay")
    import pytest as _pytest

    return int(_pytest.main([*rest, *args, "-p", "no:randomly"]))


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
