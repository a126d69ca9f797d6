"""ZeroGPU as the twins emulate it: identities, a shared quota ledger, proxy JWTs and the exact error texts.

The texts are copied verbatim from `spaces/zero/client.py` (spaces 0.51.3); `tests/test_twins_zerogpu.py` compares
them to the package's constants. This module does not import gradio: the Hub twin and the Space twins share it.

Identity, in the order a Space twin looks for it:
  1. `x-ip-token` (a JWT, as the HF proxy would set it) or `x-zerogpu-token` (a JWT, or the non-JWT
     `<unix time>:<base64>:<base64>` shape, from the Hub twin's `/api/spaces/{id}/jwt`). An expired token is refused
     ("Expired ZeroGPU proxy token"); a token with a bad signature is ignored, and for `x-zerogpu-token` the Space
     warns "Falling back to IP-based quotas (InvalidRepoToken)" as the real client does.
  2. `x-hf-authorization: Bearer <token>`: the Hub twin's user for that token.
  3. Nobody: counted by client address ("ip:127.0.0.1"); with anonymous="ip" (production: the proxy gives every
     request an X-IP-Token) it gets the user-quota texts, otherwise the identity-less "Space app has reached its
     GPU limit".
A JWT issued without a user token names no user: its holder is counted by address but is "authenticated" to ZeroGPU
(auth level None), which selects the plain "ZeroGPU quota" wording, like the real proxy's anonymous tokens.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import timedelta

# --- verbatim texts (spaces 0.51.3, spaces/zero/client.py) -------------------------------------------------------
PRO_QUOTA_MINUTES = 40
NO_GPU_MESSAGE_REGULAR = "No GPU was available"
NO_GPU_MESSAGE_INQUEUE = "No GPU was available after 60s"
EXAMPLES_RETRY_MESSAGE = "Try re-running outside of examples if it happened after clicking one"
SIGNUP_ON_HF_TXT = "Create a free account"
SIGNUP_ON_HF_URL = "https://huggingface.co/join"
SUBSCRIBE_TO_PRO_TXT = "Subscribe to Pro"
SUBSCRIBE_TO_PRO_URL = "https://huggingface.co/subscribe/pro?from=ZeroGPU"
TOKENS_SETTINGS_URL = "https://huggingface.co/settings/tokens"
ADD_CREDITS_URL = "https://huggingface.co/settings/billing?add-credits=true"

TITLE_QUOTA = "ZeroGPU quota exceeded"
TITLE_ILLEGAL = "ZeroGPU illegal duration"
TITLE_PENDING = "ZeroGPU pending credits exceeded"
TITLE_QUEUE_TIMEOUT = "ZeroGPU queue timeout"
TITLE_CLIENT = "ZeroGPU client error"
TITLE_WORKER = "ZeroGPU worker error"
TITLE_QUEUE = "ZeroGPU queue"

TITLE_CLIENT_WARNING = "ZeroGPU client warning"
MSG_FALLBACK = "Falling back to IP-based quotas (InvalidRepoToken)"
MSG_WAITING = "Waiting for a GPU to become available"
MSG_WAITING_SLOT = "Waiting for a GPU slot on this Space"
MSG_ACQUIRED = "Successfully acquired a GPU"
MSG_EXPIRED = "Expired ZeroGPU proxy token"
MSG_PENDING = (
    "You have too many ZeroGPU credits allocated to running tasks. "
    "Try again once some of those tasks have completed."
)

PRO_FACTOR = 8  # a PRO user's base quota is this many times a free user's (40 min vs 5 min on the Hub)
JWT_LIFETIME = 600.0  # seconds; the Hub's ZeroGPU tokens are short-lived


class ZeroGPUError(Exception):
    """A ZeroGPU failure with its title; the Space twins re-raise it as `gr.Error(message, title=title)` (an
    untitled gr.Error, which clients see as title `Error`, when title is None: older `spaces` generations)."""

    def __init__(self, title: str | None, message: str) -> None:
        super().__init__(message)
        self.title = title
        self.message = message


# --- the messages, built like spaces.zero.client.schedule builds them ------------------------------------------------
def api_suffix(auth: str | None) -> str:
    if auth is None:
        return f"Authenticate with a Hugging Face token for more quota - {TOKENS_SETTINGS_URL}"
    if auth == "regular":
        return (
            f"Subscribe to Hugging Face PRO to get {PRO_QUOTA_MINUTES} min of ZeroGPU quota a day - "
            f"{SUBSCRIBE_TO_PRO_URL}"
        )
    return f"Add credits to keep using ZeroGPU. $1 for 10 minutes of ZeroGPU inference - {ADD_CREDITS_URL}"


def format_wait(seconds: float) -> str:
    """Like `str(timedelta)` in whole seconds (at least 1): `0:12:34`."""
    return str(timedelta(seconds=max(1, int(seconds))))


def quota_error(
    *, has_token: bool, auth: str | None, requested: int, left: float, wait: float, api_call: bool = True
) -> ZeroGPUError:
    """The error for a request that does not fit the caller's quota (`wait` = 0 means the runs limit)."""
    if not has_token:
        return ZeroGPUError(TITLE_QUOTA, f"Space app has reached its GPU limit. {EXAMPLES_RETRY_MESSAGE}")
    if wait == 0:
        message = "You have exceeded your ZeroGPU runs limit. "
    else:
        gpu = "Pro ZeroGPU" if auth == "pro" else ("free ZeroGPU" if auth == "regular" else "ZeroGPU")
        message = (
            f"You have exceeded your {gpu} quota "
            f"({requested}s requested vs. {int(max(left, 0))}s left). "
            f"Try again in {format_wait(wait)}. "
        )
    if api_call:
        message += api_suffix(auth)
    return ZeroGPUError(TITLE_QUOTA, message)


def illegal_duration_error(*, requested: int, auth: str | None, api_call: bool = True) -> ZeroGPUError:
    message = f"The requested GPU duration ({requested}s) is larger than the maximum allowed"
    if api_call and auth in (None, "regular"):
        # Verbatim, including the missing separator of the original.
        message += (
            f"Subscribe to Hugging Face PRO to allow GPU tasks up to {PRO_QUOTA_MINUTES} min - {SUBSCRIBE_TO_PRO_URL}"
        )
    return ZeroGPUError(TITLE_ILLEGAL, message)


def pending_credits_error() -> ZeroGPUError:
    return ZeroGPUError(TITLE_PENDING, MSG_PENDING)


def queue_timeout_error(*, has_token: bool, auth: str | None) -> ZeroGPUError:
    """The queue gave up after 60 s. With a token the real message carries HTML (as gradio sends it)."""
    if not has_token:
        return ZeroGPUError(TITLE_QUOTA, f"{NO_GPU_MESSAGE_INQUEUE}. {EXAMPLES_RETRY_MESSAGE}")
    if auth == "pro":
        details = "Retry later"
    else:
        link = SIGNUP_ON_HF_URL if auth is None else SUBSCRIBE_TO_PRO_URL
        text = SIGNUP_ON_HF_TXT if auth is None else SUBSCRIBE_TO_PRO_TXT
        desc = ("to get a higher" if auth is None else "to get the highest") + " priority in ZeroGPU queues."
        style = ";".join(["white-space: nowrap", "text-underline-offset: 2px", "color: var(--body-text-color)"])
        details = f'<a style="{style}" href="{link}">{text}</a> {desc}'
    return ZeroGPUError(TITLE_QUEUE_TIMEOUT, f"{NO_GPU_MESSAGE_INQUEUE}. {details}")


def worker_error(text: str) -> ZeroGPUError:
    return ZeroGPUError(TITLE_WORKER, text)


def expired_token_error() -> ZeroGPUError:
    return ZeroGPUError(TITLE_CLIENT, MSG_EXPIRED)


def no_gpu_error() -> ZeroGPUError:
    return ZeroGPUError(TITLE_CLIENT, NO_GPU_MESSAGE_REGULAR)


# --- JWT (HS256, stdlib only) ----------------------------------------------------------------------------------------
def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class JWTError(ValueError):
    """A token that is malformed, badly signed (`reason="signature"`) or expired (`reason="expired"`)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def jwt_encode(claims: dict, secret: bytes) -> str:
    head = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    body = _b64(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode())
    sig = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{_b64(sig)}"


def jwt_decode(token: str, secret: bytes, *, now: float | None = None) -> dict:
    try:
        head, body, sig = token.split(".")
        claims = json.loads(_unb64(body))
    except Exception as e:
        raise JWTError("malformed") from e
    good = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(good, _unb64(sig)):
        raise JWTError("signature")
    if "exp" in claims and float(claims["exp"]) <= (time.time() if now is None else now):
        raise JWTError("expired")
    return claims


def plain_encode(claims: dict, secret: bytes) -> str:
    """A non-JWT ZeroGPU token, `<unix time>:<base64 claims>:<base64 signature>` (a shape seen in the wild)."""
    head = str(int(claims.get("iat", time.time())))
    body = base64.b64encode(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode()).decode()
    sig = base64.b64encode(hmac.new(secret, f"{head}:{body}".encode(), hashlib.sha256).digest()).decode()
    return f"{head}:{body}:{sig}"


def plain_decode(token: str, secret: bytes, *, now: float | None = None) -> dict:
    try:
        head, body, sig = token.split(":")
        int(head)
        claims = json.loads(base64.b64decode(body))
        given = base64.b64decode(sig)
    except Exception as e:
        raise JWTError("malformed") from e
    if not hmac.compare_digest(hmac.new(secret, f"{head}:{body}".encode(), hashlib.sha256).digest(), given):
        raise JWTError("signature")
    if "exp" in claims and float(claims["exp"]) <= (time.time() if now is None else now):
        raise JWTError("expired")
    return claims


def decode_token(token: str, secret: bytes) -> dict:
    """A ZeroGPU token in either shape the twins issue (JWT, or `<time>:<b64>:<b64>`)."""
    return jwt_decode(token, secret) if token.count(".") == 2 else plain_decode(token, secret)


# --- users and identities --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class User:
    name: str
    plan: str = "free"  # "free" | "pro"

    @property
    def auth(self) -> str:
        """The ZeroGPU auth level: "regular" or "pro"."""
        return "pro" if self.plan == "pro" else "regular"


@dataclass(frozen=True)
class Identity:
    """Who a call is booked against. `has_token` mirrors the real client's `token is not None`."""

    key: str  # "user:alice" or "ip:127.0.0.1"
    auth: str | None  # None, "regular" or "pro"
    has_token: bool
    fell_back: bool = False  # a refused x-zerogpu-token: IP-based quota and the InvalidRepoToken warning


class Users:
    """Tokens -> users. Configured tokens keep their names; any other `hf_...` token is a free user named by hash."""

    def __init__(self, users: dict[str, dict] | None = None) -> None:
        self._users = {t: User(u["name"], u.get("plan", "free")) for t, u in (users or {}).items()}

    def lookup(self, token: str | None) -> User | None:
        if not token:
            return None
        if token in self._users:
            return self._users[token]
        if token.startswith("hf_"):
            return User("user-" + hashlib.sha256(token.encode()).hexdigest()[:8])
        return None

    def by_name(self, name: str) -> User | None:
        for u in self._users.values():
            if u.name == name:
                return u
        return None


def bearer(value: str | None) -> str | None:
    if value and value.lower().startswith("bearer "):
        return value[7:].strip() or None
    return None


# --- the ledger -------------------------------------------------------------------------------------------------------
class QuotaLedger:
    """GPU seconds used per identity; a window starts at an identity's first booking and resets after `window`."""

    def __init__(self, quota: float, window: float, users: Users) -> None:
        self.quota, self.window, self.users = float(quota), float(window), users
        self._used: dict[str, float] = {}
        self._start: dict[str, float] = {}
        self._charged: dict[str, float] = {}  # every second ever booked, across windows and resets
        self._lock = threading.Lock()

    def charged(self, key: str) -> float:
        """GPU seconds booked for ``key`` since the twins started (what the account was charged in all)."""
        with self._lock:
            return self._charged.get(key, 0.0)

    def base(self, key: str) -> float:
        if key.startswith("user:"):
            u = self.users.by_name(key[5:])
            if u is not None and u.plan == "pro":
                return self.quota * PRO_FACTOR
        return self.quota

    def _roll(self, key: str, now: float) -> None:
        start = self._start.get(key)
        if start is not None and now - start >= self.window:
            self._used.pop(key, None)
            self._start.pop(key, None)

    def left(self, key: str) -> float:
        with self._lock:
            self._roll(key, time.time())
            return self.base(key) - self._used.get(key, 0.0)

    def resets_at(self, key: str) -> float | None:
        with self._lock:
            self._roll(key, time.time())
            start = self._start.get(key)
            return None if start is None else start + self.window

    def used(self, key: str) -> float:
        with self._lock:
            self._roll(key, time.time())
            return self._used.get(key, 0.0)

    def book(self, key: str, seconds: float) -> tuple[bool, float, float]:
        """Book `seconds` if they fit. Returns (booked, left before booking, seconds until the window resets)."""
        with self._lock:
            now = time.time()
            self._roll(key, now)
            left = self.base(key) - self._used.get(key, 0.0)
            start = self._start.get(key, now)
            wait = max(0.0, start + self.window - now)
            if seconds > left:
                return False, left, wait
            self._start.setdefault(key, now)
            self._used[key] = self._used.get(key, 0.0) + seconds
            self._charged[key] = self._charged.get(key, 0.0) + seconds
            return True, left, wait

    def reset(self, key: str | None = None) -> None:
        with self._lock:
            if key is None:
                self._used.clear()
                self._start.clear()
            else:
                self._used.pop(key, None)
                self._start.pop(key, None)


class ZeroGPU:
    """The state shared by the Hub twin and the Space twins: users, ledger and the JWT secret."""

    def __init__(self, quota: float, window: float, users: dict[str, dict] | None = None) -> None:
        self.users = Users(users)
        self.ledger = QuotaLedger(quota, window, self.users)
        self.secret = secrets.token_bytes(32)

    def issue_jwt(
        self, space_id: str, user: User | None, ip: str, lifetime: float = JWT_LIFETIME, now: float | None = None,
        token_format: str = "jwt",
    ) -> str:
        """A ZeroGPU token for `space_id`: a JWT, or with token_format="plain" the `<time>:<b64>:<b64>` shape."""
        now = time.time() if now is None else now
        claims = {
            "iat": int(now), "exp": now + lifetime, "sub": space_id, "ip": ip,
            "user": user.name if user else None, "plan": user.plan if user else None,
        }
        if token_format not in ("jwt", "plain"):
            raise ValueError(f"token_format must be 'jwt' or 'plain', got {token_format!r}")
        return (jwt_encode if token_format == "jwt" else plain_encode)(claims, self.secret)

    def identity_key(self, text: str) -> str:
        """Normalise what a test passes: "alice", "user:alice", "ip:1.2.3.4" or a token "hf_..."."""
        if ":" in text:
            return text
        if text.startswith("hf_"):
            u = self.users.lookup(text)
            return f"user:{u.name}" if u else text
        return f"user:{text}"

    def identify(self, headers: dict[str, str], client_ip: str, anonymous: str = "space") -> Identity:
        """Resolve a request's identity (see the module docstring); raises ZeroGPUError for an expired token.

        anonymous="ip": a caller with no identity gets an IP identity, as the HF proxy's X-IP-Token gives every
        production request; "space": none (the Space's own limit answers).
        """
        fell_back = False
        for name in ("x-ip-token", "x-zerogpu-token"):
            token = headers.get(name)
            if not token:
                continue
            try:
                claims = decode_token(token, self.secret)
            except JWTError as e:
                if e.reason == "expired":
                    raise expired_token_error() from e
                fell_back = fell_back or name == "x-zerogpu-token"
                continue  # refused token: "Falling back to IP-based quotas (InvalidRepoToken)"
            if claims.get("user"):
                holder = User(claims["user"], claims.get("plan") or "free")
                return Identity(f"user:{holder.name}", holder.auth, True)
            return Identity(f"ip:{claims.get('ip') or client_ip}", None, True)
        user = self.users.lookup(bearer(headers.get("x-hf-authorization")))
        if user is not None:
            return Identity(f"user:{user.name}", user.auth, True, fell_back)
        return Identity(f"ip:{client_ip}", None, fell_back or anonymous == "ip", fell_back)
