"""What each generation of the `spaces` package says when ZeroGPU refuses a call (SPACES.md, "ZeroGPU in the wild").

A twin decides *what* happened (a `Refusal`); `render(wording, refusal)` says it the way that generation did:
  "0.51"       spaces 0.51.3 (today; the default): titled, `requested vs. left`, `Try again in`, ` - https://...`.
  "2025"       mid-2025: titled, `{Pro GPU|free GPU|GPU} quota (...). Try again in {wait}` (no trailing period),
               `You have exceeded your runs limit.`
  "2025-plain" the plain-text form of mid-2025 (untitled): `Unlogged user is runnning out of daily ZeroGPU quotas.`
  "2024"       early 2024 (untitled): `({left}s left vs. {requested}s requested)`, `... or retry in {wait}` /
               `Please retry in {wait}`; illegal durations came out of the same path with a negative wait.
  "2024-html"  2024-2025 (untitled): `(... requested vs. ... left).` + an `<a>Create a free account</a>` link, no wait
               (PRO users got `Try again in {wait}`).
Untitled errors are raised as a plain gr.Error: the client sees the title `Error`. Texts other than 0.51's are rebuilt
from the templates in SPACES.md (public reports), not copied from code: assumed where the reports are silent
(e.g. which sign-up sentence an old generation printed for which plan).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from . import zerogpu as z

__all__ = ["DEFAULT_WORDING", "WORDINGS", "Refusal", "render"]

WORDINGS = ("0.51", "2025", "2025-plain", "2024", "2024-html")
DEFAULT_WORDING = "0.51"
KINDS = ("quota", "runs", "spent", "illegal", "space", "no_gpu")
_ANON_SUFFIX = "Authenticate with a Hugging Face token for more quota"


@dataclass(frozen=True)
class Refusal:
    """Why ZeroGPU refused a call. kind: quota (does not fit, `wait` until reset), runs (runs limit), spent (daily
    allowance spent: 0s left, wait 0), illegal (duration over the maximum), space (no identity: the Space's own
    limit), no_gpu (queue timeout). auth: None (anonymous/IP), "regular" or "pro"."""

    kind: str
    requested: int
    left: float = 0.0
    wait: float = 0.0
    auth: str | None = None
    api_call: bool = True
    identified: bool = True  # False: the caller has no identity at all (anonymous="space")


def _td(seconds: float) -> str:
    """`str(timedelta)` in whole seconds, zero and negative included: `0:00:00`, `1 day, 2:03:04`,
    `-1 day, 23:59:59`."""
    return str(timedelta(seconds=int(seconds)))


def _left(r: Refusal) -> int:
    return int(max(r.left, 0))


def render(wording: str, r: Refusal) -> z.ZeroGPUError:
    """The error a twin raises for `r`, in `wording`'s texts and title (title None: an untitled gr.Error)."""
    if wording not in WORDINGS:
        raise ValueError(f"Unknown ZeroGPU wording {wording!r}; choose from {', '.join(WORDINGS)}")
    if r.kind == "space":
        title = z.TITLE_QUOTA if wording in ("0.51", "2025") else None
        return z.ZeroGPUError(title, f"Space app has reached its GPU limit. {z.EXAMPLES_RETRY_MESSAGE}")
    if r.kind == "no_gpu" and wording != "0.51":
        title = z.TITLE_QUEUE_TIMEOUT if wording == "2025" else None
        return z.ZeroGPUError(title, z.NO_GPU_MESSAGE_INQUEUE)
    return {"0.51": _v051, "2025": _v2025, "2025-plain": _v2025_plain, "2024": _v2024,
            "2024-html": _v2024_html}[wording](r)


def _v051(r: Refusal) -> z.ZeroGPUError:
    if r.kind == "illegal":
        return z.illegal_duration_error(requested=r.requested, auth=r.auth, api_call=r.api_call)
    if r.kind == "no_gpu":
        return z.queue_timeout_error(has_token=r.identified, auth=r.auth)
    if r.kind == "spent":  # the allowance is gone and the scheduler's wait rounds to nothing
        msg = (f"You have exceeded your {_gpu_051(r.auth)} quota ({r.requested}s requested vs. 0s left). "
               f"Try again in 0:00:00. ")
        return z.ZeroGPUError(z.TITLE_QUOTA, msg + (z.api_suffix(r.auth) if r.api_call else ""))
    wait = 0.0 if r.kind == "runs" else (r.wait or 1)
    return z.quota_error(has_token=True, auth=r.auth, requested=r.requested, left=r.left, wait=wait,
                         api_call=r.api_call)


def _gpu_051(auth: str | None) -> str:
    return "Pro ZeroGPU" if auth == "pro" else ("free ZeroGPU" if auth == "regular" else "ZeroGPU")


def _v2025(r: Refusal) -> z.ZeroGPUError:
    if r.kind == "illegal":
        return z.ZeroGPUError(z.TITLE_ILLEGAL, f"The requested GPU duration ({r.requested}s) is larger than the "
                                               "maximum allowed")
    anon = f" {_ANON_SUFFIX}" if r.auth is None and r.api_call else ""
    if r.kind == "runs":
        return z.ZeroGPUError(z.TITLE_QUOTA, "You have exceeded your runs limit." + anon)
    gpu = "Pro GPU" if r.auth == "pro" else ("free GPU" if r.auth == "regular" else "GPU")
    left, wait = (0, 0.0) if r.kind == "spent" else (_left(r), max(r.wait, 1))
    msg = f"You have exceeded your {gpu} quota ({r.requested}s requested vs. {left}s left). Try again in {_td(wait)}"
    return z.ZeroGPUError(z.TITLE_QUOTA, msg + (f".{anon}" if anon else ""))


def _v2025_plain(r: Refusal) -> z.ZeroGPUError:
    if r.kind == "illegal":
        return z.ZeroGPUError(None, f"The requested GPU duration ({r.requested}s) is larger than the maximum allowed")
    if r.auth is None:
        return z.ZeroGPUError(None, "Unlogged user is runnning out of daily ZeroGPU quotas. Signup for free on "
                                    f"{z.SIGNUP_ON_HF_URL} or login to get more ZeroGPU quota now.")
    return z.ZeroGPUError(None, "User is runnning out of daily ZeroGPU quotas. Subscribe to PRO on "
                                f"{z.SUBSCRIBE_TO_PRO_URL} to get more ZeroGPU quota now.")


def _v2024(r: Refusal) -> z.ZeroGPUError:
    if r.kind == "illegal":  # same path as the quota text: the wait comes out negative
        left, wait = _left(r), -1.0
    elif r.kind in ("runs", "spent"):
        left, wait = 0, 0.0
    else:
        left, wait = _left(r), max(r.wait, 1)
    msg = f"You have exceeded your GPU quota ({left}s left vs. {r.requested}s requested). "
    if r.auth == "pro":
        msg += f"Please retry in {_td(wait)}"
    elif r.auth == "regular":
        msg += f"Subscribe to PRO to get more quotas or retry in {_td(wait)}"
    else:
        msg += f"Sign-up on Hugging Face to get more quotas or retry in {_td(wait)}"
    return z.ZeroGPUError(None, msg)


def _v2024_html(r: Refusal) -> z.ZeroGPUError:
    if r.kind == "illegal":
        return z.ZeroGPUError(None, f"The requested GPU duration ({r.requested}s) is larger than the maximum allowed")
    left = 0 if r.kind in ("runs", "spent") else _left(r)
    msg = f"You have exceeded your GPU quota ({r.requested}s requested vs. {left}s left)."
    if r.auth == "pro":
        wait = 0.0 if r.kind in ("runs", "spent") else max(r.wait, 1)
        return z.ZeroGPUError(None, f"{msg} Try again in {_td(wait)}")
    link = f'<a style="white-space: nowrap" href="{z.SIGNUP_ON_HF_URL}">{z.SIGNUP_ON_HF_TXT}</a>'
    return z.ZeroGPUError(None, f"{msg} {link} to get more usage quota.")
