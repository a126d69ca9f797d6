"""Every generation of ZeroGPU error texts (SPACES.md, "ZeroGPU in the wild") typed from the text, whatever the title.

The corpus is generated from the templates of each generation with varied numbers, waits (days, negative, zero,
none), gpu names, suffixes, HTML links, titles and line breaks at random token boundaries (and inside words), from a
fixed seed. Each case states the exact exception type and fields expected; the Space's original text must be kept on
the exception and its ``str()`` must be plain readable text. Pure: no server. ``corpus_counts()`` gives the numbers
quoted in tests/RELIABILITY.md ("ZeroGPU generations"); ``python tests/test_zerogpu_texts.py`` prints them.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from janusflux.errors import (
    ExpiredProxyToken,
    GPUTaskAbortedError,
    IllegalDurationError,
    NoGPUAvailableError,
    QuotaExceededError,
    SpaceAppError,
    SpaceBusyError,
)
from janusflux.policy import decide
from janusflux.zerogpu import classify, parse_wait

UNTITLED = ["Error", None, ""]  # how a client sees a plain gr.Error / an HTML error without a title
QUOTA_TITLE = "ZeroGPU quota exceeded"
ANY_QUOTA_TITLE = [QUOTA_TITLE, *UNTITLED]

# (text as printed, seconds); None = no wait in the text
WAITS: list[tuple[str, float]] = [
    ("0:12:34", 754.0), ("0:01:23", 83.0), ("0:00:05", 5.0), ("23:59:59", 86399.0), ("1 day, 2:03:04", 93784.0),
    ("2 days, 0:00:05", 172805.0), ("0:00:00", 0.0), ("-1 day, 23:59:59", -1.0), ("0:00:07.500000", 7.5),
]
NUMBERS: list[tuple[str, str]] = [  # (requested, left) as printed; refusals with left >= requested happen (SPACES.md)
    ("60", "42"), ("75", "0"), ("112", "25"), ("120", "156"), ("45", "45"), ("180", "0"), ("90", "12.5"),
]
PRO_URL = "https://huggingface.co/subscribe/pro?from=ZeroGPU"
SUFFIXES_2025 = [
    "",
    "Authenticate with a Hugging Face token for more quota - https://huggingface.co/settings/tokens",
    "Authenticate with a Hugging Face token for more quota",
    f"Subscribe to Hugging Face PRO to get 40 min of ZeroGPU quota a day - {PRO_URL}",
    "Subscribe to Hugging Face PRO to get 25 min of ZeroGPU quota a day",
    "Add credits to keep using ZeroGPU. $1 for 10 minutes of ZeroGPU inference - "
    "https://huggingface.co/settings/billing?add-credits=true",
]
HTML_LINK = '<a style="white-space: nowrap;color: var(--body-text-color)" href="https://huggingface.co/join">'


@dataclass(frozen=True)
class Case:
    generation: str
    title: str | None
    message: str
    cls: type
    fields: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.generation}:{self.cls.__name__}"


def quota_fields(requested: str, left: str, wait: float | None) -> dict[str, Any]:
    """The spec: a positive wait is a wait; a zero or negative wait, or no wait with nothing left, is a spent
    allowance (scope "daily", nothing to wait for in this call); no wait with something left is a refusal without
    a retry-after."""
    spent = (wait is not None and wait <= 0) or (wait is None and float(left) == 0)
    return {"scope": "daily" if spent else "user", "requested": float(requested), "left": float(left),
            "retry_after": wait if wait is not None and wait > 0 else None, "resets_at": None, "spent": spent}


def breaks(text: str, rng: random.Random, *, inside_words: bool = False) -> str:
    """Line breaks at random token boundaries (replacing the space or added to it), optionally inside a word too."""
    tokens = text.split(" ")
    out = tokens[0]
    for tok in tokens[1:]:
        out += rng.choice([" ", " ", " ", "\n", " \n", "\r\n", "\n\n"]) + tok
    if inside_words:
        words = [m for m in re.finditer(r"[A-Za-z]{5,}", out)]
        for m in rng.sample(words, min(2, len(words))):
            cut = rng.randint(m.start() + 1, m.end() - 1)
            if cut < len(out):
                out = out[:cut] + "\n" + out[cut:]
                break
    return out


def variants(text: str, rng: random.Random) -> list[str]:
    """The text as sent, with line breaks between tokens, and with one inside a word."""
    return [text, breaks(text, rng), breaks(text, rng, inside_words=True)]


def gen_2024_early(rng: random.Random) -> Iterator[Case]:
    """Early 2024, no title: reversed field order, sign-up / PRO sentence, lower-case "retry in"."""
    for (requested, left), (wait_text, wait) in zip(NUMBERS * 2, WAITS + WAITS[:5], strict=True):
        head = f"You have exceeded your GPU quota ({left}s left vs. {requested}s requested). "
        tails = [f"Sign-up on Hugging Face to get more quotas or retry in {wait_text}",
                 f"Subscribe to Pro to get 5x more usage quota. Please retry in {wait_text}"]
        for msg in variants(head + rng.choice(tails), rng):
            yield Case("2024-early", rng.choice(ANY_QUOTA_TITLE), msg, QuotaExceededError,
                       quota_fields(requested, left, wait))
    for requested in ("120", "300"):  # illegal duration through the same path: a negative wait
        text = (f"The requested GPU duration ({requested}s) is larger than the maximum allowed. "
                f"Sign-up on Hugging Face to get more quotas or retry in -1 day, 23:59:59")
        for msg in variants(text, rng):
            yield Case("2024-early", rng.choice(ANY_QUOTA_TITLE), msg, IllegalDurationError,
                       {"requested": float(requested)})


def gen_2024_html(rng: random.Random) -> Iterator[Case]:
    """2024-2025, HTML, no title: requested vs. left, a sign-up link, and no wait (PRO users got "Try again in")."""
    for requested, left in NUMBERS:
        text = (f"You have exceeded your GPU quota ({requested}s requested vs. {left}s left). "
                f"{HTML_LINK}Create a free account</a> to get more usage quota.")
        for msg in variants(text, rng):
            for title in UNTITLED:
                yield Case("2024-html", title, msg, QuotaExceededError, quota_fields(requested, left, None))
        wait_text, wait = rng.choice(WAITS)
        pro = (f"You have exceeded your GPU quota ({requested}s requested vs. {left}s left). "
               f'<a href="https://huggingface.co/pricing">Try again in {wait_text}</a>')
        for msg in variants(pro, rng):
            yield Case("2024-html", rng.choice(UNTITLED), msg, QuotaExceededError,
                       quota_fields(requested, left, wait))


def gen_2025_mid(rng: random.Random) -> Iterator[Case]:
    """Mid-2025, titled (and its plain-text forms): gpu names without "Zero", no trailing period, runs limit,
    "runnning out of daily"."""
    for gpu in ("Pro GPU", "free GPU", "GPU"):
        for wait_text, wait in WAITS:
            requested, left = rng.choice(NUMBERS)
            text = (f"You have exceeded your {gpu} quota ({requested}s requested vs. {left}s left). "
                    f"Try again in {wait_text}")
            msg = rng.choice(variants(text, rng))
            yield Case("2025-mid", rng.choice(ANY_QUOTA_TITLE), msg, QuotaExceededError,
                       quota_fields(requested, left, wait))
    for msg in variants("You have exceeded your runs limit.", rng):
        for title in ANY_QUOTA_TITLE:
            yield Case("2025-mid", title, msg, QuotaExceededError,
                       {"scope": "runs", "retry_after": None, "requested": None, "left": None, "spent": True})
    plain = [
        "Unlogged user is {r}ing out of daily ZeroGPU quotas. Signup for free on https://huggingface.co/join or "
        "login on https://huggingface.co/login to get more ZeroGPU quota now.",
        "User is {r}ing out of daily ZeroGPU quotas. Subscribe to PRO on https://huggingface.co/subscribe/pro "
        "to get more ZeroGPU quota now.",
    ]
    for template in plain:
        for r in ("runnn", "runn"):  # sic: three n's in the original, two if someone fixes it
            for msg in variants(template.format(r=r), rng):
                yield Case("2025-mid", rng.choice(ANY_QUOTA_TITLE), msg, QuotaExceededError,
                           {"scope": "daily", "retry_after": None, "requested": None, "left": None, "spent": True})


def gen_2025_2026(rng: random.Random) -> Iterator[Case]:
    """2025-2026 (spaces 0.51.3): "free ZeroGPU" / "ZeroGPU runs limit", trailing period, optional suffix."""
    for gpu in ("free ZeroGPU", "Pro ZeroGPU", "ZeroGPU"):
        for wait_text, wait in WAITS:
            for _ in range(2):
                requested, left = rng.choice(NUMBERS)
                text = (f"You have exceeded your {gpu} quota ({requested}s requested vs. {left}s left). "
                        f"Try again in {wait_text}. {rng.choice(SUFFIXES_2025)}")
                msg = rng.choice(variants(text, rng))
                yield Case("2025-2026", rng.choice(ANY_QUOTA_TITLE), msg, QuotaExceededError,
                           quota_fields(requested, left, wait))
    for suffix in SUFFIXES_2025:
        for msg in variants(f"You have exceeded your ZeroGPU runs limit. {suffix}", rng):
            yield Case("2025-2026", rng.choice(ANY_QUOTA_TITLE), msg, QuotaExceededError,
                       {"scope": "runs", "retry_after": None, "requested": None, "left": None, "spent": True})


def gen_other(rng: random.Random) -> Iterator[Case]:
    """The non-quota texts of every generation (0.51.3 wording, titled and untitled)."""
    examples = "Try re-running outside of examples if it happened after clicking one"
    for msg in variants(f"Space app has reached its GPU limit. {examples}", rng):
        for title in ANY_QUOTA_TITLE:
            yield Case("non-quota", title, msg, QuotaExceededError,
                       {"scope": "space", "retry_after": None, "spent": False})
    for requested in ("120", "180"):
        for suffix in ("", f"Subscribe to Hugging Face PRO to allow GPU tasks up to 40 min - {PRO_URL}"):
            text = f"The requested GPU duration ({requested}s) is larger than the maximum allowed{suffix}"
            for msg in variants(text, rng):
                for title in ("ZeroGPU illegal duration", *ANY_QUOTA_TITLE):
                    yield Case("non-quota", title, msg, IllegalDurationError, {"requested": float(requested)})
    pending = ("You have too many ZeroGPU credits allocated to running tasks. "
               "Try again once some of those tasks have completed.")
    for msg in variants(pending, rng):
        for title in ("ZeroGPU pending credits exceeded", *UNTITLED):
            yield Case("non-quota", title, msg, QuotaExceededError,
                       {"scope": "pending", "retry_after": None, "spent": False})
    timeouts = [f"No GPU was available after 60s. {examples}",
                f"No GPU was available after 60s. {HTML_LINK}Create a free account</a> to get a higher priority in "
                "ZeroGPU queues.",
                "No GPU was available after 60s. Retry later"]
    for text in timeouts:
        for msg in variants(text, rng):
            for title in ("ZeroGPU queue timeout", *ANY_QUOTA_TITLE):
                yield Case("non-quota", title, msg, NoGPUAvailableError, {"reason": "queue timeout"})
    for title in ("ZeroGPU client error", *UNTITLED):
        yield Case("non-quota", title, "No GPU was available", NoGPUAvailableError, {"reason": "no gpu"})
    yield Case("non-quota", "ZeroGPU queue timeout", "No GPU was available", NoGPUAvailableError,
               {"reason": "queue timeout"})  # the specific title decides
    for title in ("ZeroGPU client error", *UNTITLED):
        yield Case("non-quota", title, "Expired ZeroGPU proxy token", ExpiredProxyToken, {"reason": "expired token"})
    for title in ("ZeroGPU worker error", *UNTITLED):
        yield Case("non-quota", title, "GPU task aborted", GPUTaskAbortedError,
                   {"title": title if title != "" else None})
    for name in ("AttributeError", "RuntimeError", "torch.OutOfMemoryError", "CUDA error"):
        yield Case("non-quota", "ZeroGPU worker error", name, SpaceAppError, {"title": "ZeroGPU worker error"})
    yield Case("non-quota", "ZeroGPU illegal duration", "something new", IllegalDurationError,
               {"requested": None, "title": "ZeroGPU illegal duration"})  # the specific title decides
    yield Case("non-quota", "ZeroGPU pending credits exceeded", "something new", QuotaExceededError,
               {"scope": "pending"})
    # the Space's own errors, some mentioning quotas or GPUs, stay app errors
    for title, text in [("Error", "CUDA out of memory. Tried to allocate 2.00 GiB"), (None, "Invalid prompt"),
                        ("Error", "Your prompt exceeds the token quota of the text encoder"),
                        ("Error", "GPU not found"), ("Invalid size", "width must be a multiple of 32")]:
        yield Case("non-quota", title, text, SpaceAppError, {"title": title if title else None})


GENERATORS = {"2024-early": gen_2024_early, "2024-html": gen_2024_html, "2025-mid": gen_2025_mid,
              "2025-2026": gen_2025_2026, "non-quota": gen_other}


def corpus() -> list[Case]:
    rng = random.Random(12)
    return [case for gen in GENERATORS.values() for case in gen(rng)]


def corpus_counts() -> dict[str, Counter[str]]:
    counts: dict[str, Counter[str]] = {}
    for case in corpus():
        key = case.cls.__name__ + (f"({case.fields['scope']})" if "scope" in case.fields else "")
        counts.setdefault(case.generation, Counter())[key] += 1
    return counts


CORPUS = corpus()


@pytest.mark.parametrize("case", CORPUS, ids=[f"{i}-{c.id}" for i, c in enumerate(CORPUS)])
def test_corpus_typed_with_fields(case: Case) -> None:
    err = classify(case.title, case.message, space_id="a/b", endpoint="/infer")
    assert type(err) is case.cls, f"{type(err).__name__} for {case.title!r}: {case.message!r}"
    for name, value in case.fields.items():
        assert getattr(err, name) == value, (name, getattr(err, name), value, case.message)
    assert err.space_id == "a/b" and err.endpoint == "/infer"
    assert err.space_message == case.message and err.space_title == case.title  # the original, as sent
    text = str(err)
    assert "\n" not in text and "<a" not in text and "</a>" not in text and "  " not in text


def test_corpus_is_large_and_covers_every_generation() -> None:
    counts = corpus_counts()
    assert set(counts) == set(GENERATORS)
    assert sum(sum(c.values()) for c in counts.values()) >= 300
    spent = sum(1 for c in CORPUS if c.fields.get("spent"))
    waits = sum(1 for c in CORPUS if c.fields.get("retry_after"))
    assert spent >= 50 and waits >= 50


@pytest.mark.parametrize("text,seconds", [
    ("Try again in 0:12:34", 754), ("retry in 1 day, 2:03:04", 93784), ("Please retry in 2 days, 0:00:05", 172805),
    ("or retry in -1 day, 23:59:59", -1), ("Try again in 0:00:00. ", 0), ("Try again in 0:00:07.500000", 7.5),
    ("Try again\nin 1\nday,\n0:00:05", 86405), ('<a href="x">Try again in 0:01:23</a>', 83), ("no wait here", None),
    ("Try again once some of those tasks have completed.", None),
])
def test_parse_wait_every_form(text: str, seconds: float | None) -> None:
    assert parse_wait(text) == seconds


def test_str_is_plain_and_readable() -> None:
    msg = ("You have exceeded your GPU quota (60s requested vs. 42s left).\n"
           f"{HTML_LINK}Create a free account</a> to get more usage quota.")
    err = classify("Error", msg, space_id=None, endpoint=None)
    assert str(err) == ("You have exceeded your GPU quota (60s requested vs. 42s left). "
                        "Create a free account to get more usage quota.")
    assert err.space_message == msg
    entities = classify(None, "You have exceeded your GPU quota (60s requested vs.&nbsp;0s left).<br>Sign up &amp; "
                        "retry in 1 day, 0:00:00", space_id=None, endpoint=None)
    assert str(entities) == ("You have exceeded your GPU quota (60s requested vs. 0s left). "
                             "Sign up & retry in 1 day, 0:00:00")
    assert (entities.scope, entities.left, entities.retry_after) == ("user", 0.0, 86400.0)


# --- policy on the new kinds ---------------------------------------------------------------------------------------
def _q(text: str, title: str | None = QUOTA_TITLE) -> Any:
    return classify(title, text, space_id=None, endpoint=None)


@pytest.mark.parametrize("text", [
    "You have exceeded your free ZeroGPU quota (60s requested vs. 0s left). Try again in 0:00:00. ",
    "You have exceeded your GPU quota (60s requested vs. 0s left). Create a free account to get more usage quota.",
    "You have exceeded your ZeroGPU runs limit. ",
    "You have exceeded your runs limit.",
    "Unlogged user is runnning out of daily ZeroGPU quotas. Signup for free on https://huggingface.co/join",
    "User is runnning out of daily ZeroGPU quotas.",
])
def test_spent_allowance_raises_at_once_whatever_the_budget(text: str) -> None:
    for title in (QUOTA_TITLE, "Error"):
        err = _q(text, title)
        assert isinstance(err, QuotaExceededError) and err.spent
        d = decide(err, 1, wait_budget=1e9)
        assert d.action == "raise" and "spent" in d.reason


def test_user_quota_without_retry_after_raises() -> None:
    err = _q("You have exceeded your GPU quota (60s requested vs. 42s left). Create a free account.", "Error")
    assert err.scope == "user" and err.retry_after is None
    assert decide(err, 1, wait_budget=1e9).action == "raise"


def test_gpu_task_aborted_retried_once_on_another_mirror() -> None:
    err = classify("ZeroGPU worker error", "GPU task aborted", space_id="a/b", endpoint="/infer")
    first = decide(err, 1, wait_budget=100)
    assert first.action == "switch" and first.cooldown > 0
    assert decide(err, 2, wait_budget=100, abort_retry_used=True).action == "raise"
    # an abort after other retries still gets its one retry
    assert decide(err, 4, wait_budget=100, abort_retry_used=False).action == "switch"
    worker = classify("ZeroGPU worker error", "AttributeError", space_id=None, endpoint=None)
    assert decide(worker, 1, wait_budget=100).action == "raise"


def test_illegal_duration_is_not_retried() -> None:
    for title in ("ZeroGPU illegal duration", "Error", QUOTA_TITLE):
        err = _q("The requested GPU duration (120s) is larger than the maximum allowed. retry in -1 day, 23:59:59",
                 title)
        assert isinstance(err, IllegalDurationError) and isinstance(err, SpaceAppError)
        assert decide(err, 1, wait_budget=1e9).action == "raise"


def test_queue_full_and_no_gpu_stay_calm() -> None:
    full = SpaceBusyError("the Space's queue is full", reason="queue full")
    nogpu = _q("No GPU was available after 60s.", "Error")
    for err in (full, nogpu):
        for attempt in range(1, 7):
            d = decide(err, attempt, wait_budget=0)
            assert d.action == "switch" and d.cooldown > 0, (err, attempt, d)


def test_existing_rows_keep_their_outcomes() -> None:
    waits = _q("You have exceeded your free ZeroGPU quota (75s requested vs. 42s left). Try again in 0:00:03. ")
    assert decide(waits, 1, wait_budget=10).action == "wait"
    assert decide(waits, 1, wait_budget=1).action == "raise"
    pending = _q("You have too many ZeroGPU credits allocated to running tasks.", "ZeroGPU pending credits exceeded")
    assert decide(pending, 1, wait_budget=10).action == "wait"
    space = _q("Space app has reached its GPU limit.")
    assert decide(space, 1, wait_budget=0).action == "switch"
    expired = classify("ZeroGPU client error", "Expired ZeroGPU proxy token", space_id=None, endpoint=None)
    assert decide(expired, 1, 0).refresh_jwt


if __name__ == "__main__":  # the counts quoted in tests/RELIABILITY.md
    for generation, kinds in corpus_counts().items():
        print(f"{generation}: {sum(kinds.values())}  " + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())))
    print(f"total: {len(CORPUS)}; spent allowance: {sum(1 for c in CORPUS if c.fields.get('spent'))}; "
          f"with a retry-after: {sum(1 for c in CORPUS if c.fields.get('retry_after'))}; "
          f"with line breaks: {sum(1 for c in CORPUS if chr(10) in c.message)}; "
          f"with HTML: {sum(1 for c in CORPUS if '<a' in c.message)}")
