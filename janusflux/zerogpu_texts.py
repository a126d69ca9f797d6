"""ZeroGPU error texts of every generation of the ``spaces`` package, typed from ONE table of data.

Live Spaces pin whatever ``spaces`` version they were built with, so a client meets several wordings at once, some
without a ZeroGPU title (a plain ``gr.Error`` reaches the client titled ``Error``, an HTML error untitled). See
SPACES.md, "ZeroGPU in the wild". :data:`RULES` maps (title, pattern) to an error type and its fixed fields; the
first row that applies wins:

* a row with a title applies only under that title: the specific titles (worker error, illegal duration, pending
  credits, queue timeout) come first and decide whatever the text says;
* a row without a title applies under any title (``ZeroGPU quota exceeded``, ``ZeroGPU client error``, ``Error``,
  none): the text decides;
* ``ZeroGPU quota exceeded`` with a text no row knows is a user quota refusal; anything else is a ``SpaceAppError``.

Patterns are matched against the text with HTML tags and ALL whitespace removed, and written without spaces, so line
breaks anywhere (between tokens or inside a word) and links change nothing. Named groups ``requested``, ``left``
(seconds, as printed) and ``wait`` (a Python timedelta's str: ``H:MM:SS``, ``1 day, H:MM:SS``, ``-1 day, 23:59:59``)
become fields. A quota refusal whose wait is zero or negative, or that has no wait and ``0s left``, means the
allowance is spent until it resets: scope ``"daily"`` with no retry-after (see :class:`QuotaExceededError`).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from .errors import (
    ExpiredProxyToken,
    GPUTaskAbortedError,
    IllegalDurationError,
    NoGPUAvailableError,
    QuotaExceededError,
    SpaceAppError,
    SpaceError,
)

__all__ = ["RULES", "TOASTS", "Rule", "classify", "parse_wait", "plain", "toast_kind"]

TITLE_QUOTA = "ZeroGPU quota exceeded"
TITLE_ILLEGAL = "ZeroGPU illegal duration"
TITLE_PENDING = "ZeroGPU pending credits exceeded"
TITLE_QUEUE_TIMEOUT = "ZeroGPU queue timeout"
TITLE_WORKER = "ZeroGPU worker error"

_NUM = r"-?\d+(?:\.\d+)?"
# "Try again in" (titled generations), "retry in" / "Please retry in" (early 2024); microseconds have 6 digits
_WAIT = r"(?:tryagainin|retryin)(?P<wait>-?(?:\d+days?,)?\d+:\d{2}:\d{2}(?:\.\d{6})?)"
_HEAD = r"youhaveexceededyour\w*?quota"  # GPU, free GPU, Pro GPU, ZeroGPU, free ZeroGPU, Pro ZeroGPU
_THEN_WAIT = rf"(?:.*?{_WAIT})?"  # the wait comes after the sign-up / PRO sentence, or not at all
_ILLEGAL = rf"therequestedgpuduration\((?P<requested>{_NUM})s\)islargerthanthemaximumallowed"
_ABORTED = r"gputaskaborted"


@dataclass(frozen=True)
class Rule:
    """One row: under ``title`` (None: any title), a text matching ``pattern`` (None: any text) is a ``kind``."""

    kind: type[SpaceError]
    pattern: str | None = None
    title: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def _compiled(self) -> re.Pattern[str]:
        return re.compile(self.pattern or "", re.IGNORECASE | re.DOTALL)

    def match(self, title: str, squashed: str) -> re.Match[str] | None:
        if self.title is not None and self.title != title:
            return None
        return self._compiled.search(squashed)


RULES: tuple[Rule, ...] = (
    # specific titles decide
    Rule(GPUTaskAbortedError, _ABORTED, TITLE_WORKER),
    Rule(SpaceAppError, None, TITLE_WORKER),  # the worker's exception class name
    Rule(IllegalDurationError, _ILLEGAL, TITLE_ILLEGAL),
    Rule(IllegalDurationError, None, TITLE_ILLEGAL),
    Rule(QuotaExceededError, None, TITLE_PENDING, {"scope": "pending"}),
    Rule(NoGPUAvailableError, None, TITLE_QUEUE_TIMEOUT, {"reason": "queue timeout"}),
    # the text decides, whatever the title
    Rule(IllegalDurationError, _ILLEGAL),  # early 2024: through the quota path, ends "retry in -1 day, 23:59:59"
    Rule(QuotaExceededError, r"toomanyzerogpucreditsallocated", None, {"scope": "pending"}),
    Rule(ExpiredProxyToken, r"expiredzerogpuproxytoken", None, {"reason": "expired token"}),
    Rule(NoGPUAvailableError, r"nogpuwasavailableafter\d+s", None, {"reason": "queue timeout"}),
    Rule(NoGPUAvailableError, r"nogpuwasavailable", None, {"reason": "no gpu"}),
    Rule(QuotaExceededError, r"spaceapphasreacheditsgpulimit", None, {"scope": "space"}),
    Rule(QuotaExceededError, r"youhaveexceededyour(?:zerogpu)?runslimit", None, {"scope": "runs"}),
    Rule(QuotaExceededError, r"useris(?:runn|runnn)ingoutofdailyzerogpuquota", None, {"scope": "daily"}),
    Rule(QuotaExceededError, rf"{_HEAD}\((?P<requested>{_NUM})srequestedvs\.?(?P<left>{_NUM})sleft\){_THEN_WAIT}",
         None, {"scope": "user"}),
    Rule(QuotaExceededError, rf"{_HEAD}\((?P<left>{_NUM})sleftvs\.?(?P<requested>{_NUM})srequested\){_THEN_WAIT}",
         None, {"scope": "user"}),  # early 2024: the reversed order
    Rule(GPUTaskAbortedError, rf"^{_ABORTED}\.?$"),  # an untitled worker error
    # a quota title with a text no row knows
    Rule(QuotaExceededError, None, TITLE_QUOTA, {"scope": "user"}),
)

_TAG = re.compile(r"<[^>]*>")
_BR = re.compile(r"<br\s*/?>", re.IGNORECASE)
_SPACE = re.compile(r"\s+")
_WAIT_RE = re.compile(_WAIT, re.IGNORECASE)
_TIMEDELTA = re.compile(r"(?:(-?\d+)days?,)?(\d+):(\d{2}):(\d{2}(?:\.\d+)?)")


def plain(message: str) -> str:
    """The readable text: tags dropped, then entities decoded, whitespace (line breaks included) collapsed."""
    return _SPACE.sub(" ", html.unescape(_TAG.sub("", _BR.sub(" ", message)))).strip()


def _squash(message: str) -> str:
    return _SPACE.sub("", plain(message))


def _seconds(timedelta_text: str) -> float:
    """``str(timedelta)`` back to seconds; the sign of a negative timedelta is on its days only."""
    m = _TIMEDELTA.fullmatch(timedelta_text)
    if m is None:
        raise ValueError(timedelta_text)
    days, hours, minutes, seconds = m.groups()
    return int(days or 0) * 86400 + int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def parse_wait(message: str) -> float | None:
    """Seconds in "Try again in ..." / "retry in ..." (negative for a negative timedelta), None without a wait."""
    m = _WAIT_RE.search(_squash(message))
    return _seconds(m.group("wait")) if m else None


def _number(groups: dict[str, str | None], name: str) -> float | None:
    value = groups.get(name)
    return float(value) if value is not None else None


def classify(title: str | None, message: str, *, space_id: str | None, endpoint: str | None) -> SpaceError:
    """Map a Space's error (title, message) onto the exception tree, keeping the original title and text."""
    key = (title or "").strip()
    text = plain(message or "")
    squashed = _SPACE.sub("", text)
    where: dict[str, Any] = {"space_id": space_id, "endpoint": endpoint, "space_title": title,
                             "space_message": message}
    for rule in RULES:
        m = rule.match(key, squashed)
        if m is None:
            continue
        groups = m.groupdict()
        kw = {**where, **rule.fields}
        if rule.kind is QuotaExceededError:
            wait = _seconds(groups["wait"]) if groups.get("wait") else None
            left = _number(groups, "left")
            if kw["scope"] == "user" and ((wait is not None and wait <= 0) or (wait is None and left == 0)):
                kw["scope"] = "daily"  # a zero or negative wait, or nothing left and no wait: spent until reset
            return QuotaExceededError(text, requested=_number(groups, "requested"), left=left,
                                      retry_after=wait if wait is not None and wait > 0 else None, **kw)
        if issubclass(rule.kind, SpaceAppError):
            if rule.kind is IllegalDurationError:
                kw["requested"] = _number(groups, "requested")
            return rule.kind(text, title=key or None, **kw)
        return rule.kind(text, **kw)
    return SpaceAppError(text, title=key or None, **where)


# -- toasts: what a Space tells a call that goes on (gr.Info / gr.Warning), by kind ---------------------------------
#: pattern (on the squashed text, as :data:`RULES`) -> kind of :class:`~janusflux.results.Log` event
TOASTS: tuple[tuple[str, str], ...] = (
    # a refused ZeroGPU token: the Space goes on with IP-based (anonymous) quota; the token's quota is not applied
    (r"fallingbacktoip-?basedquotas", "quota-fallback"),
    # the Space's own concurrency (its GPU slots) is full: another Space (a mirror) may have a free slot
    (r"waitingforagpuslotonthisspace", "waiting-slot"),
    # no free GPU on the node: every ZeroGPU Space waits alike
    (r"waitingforagputobecomeavailable", "waiting-gpu"),
    (r"nogpuwasavailable", "no-gpu"),
)
_TOASTS = tuple((re.compile(p, re.IGNORECASE), kind) for p, kind in TOASTS)


def toast_kind(message: str) -> str | None:
    """The kind of a Space's toast (see :data:`TOASTS`), None for one janusflux does not interpret."""
    squashed = _squash(message or "")
    return next((kind for pattern, kind in _TOASTS if pattern.search(squashed)), None)
