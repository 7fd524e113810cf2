"""Call one webhook (gate or hook) over HTTP and say whether it passed (SEMANTICS.md §8).

Called by the engine's checks (engine/checks.py) through `call_webhook(hook, payload)`, with a
payload built by `hook_payload`. Rules:
- POST the JSON payload `{name, namespace, phase, checksum, metadata}`;
- success is an HTTP status <= 202, taken literally: 200, 201 and 202 pass, 203 and 204 fail;
- one attempt, no retries; redirects are not followed (a 3xx is an answer > 202, so it fails),
  which also means a hook can never be bounced to another scheme or host;
- `hook.timeout_s` (default 10 s) is one deadline for connecting and reading the answer's
  headers; the body is not read;
- only http:// and https:// URLs; proxies and credentials from the environment are not used
  (hooks go where the spec says, e.g. a load tester on 127.0.0.1);
- nothing raises: a refused connection, a timeout, a name that does not resolve or a bad URL
  each give `ok=False` with the reason in `error`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import cast
from urllib.parse import urlsplit

import requests
import urllib3

from progressive.model.types import DEFAULT_WEBHOOK_TIMEOUT_S, Webhook

SUCCESS_MAX_STATUS = 202


@dataclass(frozen=True)
class HookResult:
    ok: bool
    status: int | None  # None when no HTTP answer came back
    error: str  # empty when ok
    elapsed_s: float


def hook_payload(spec, phase, checksum: str | None, hook: Webhook) -> dict:
    """The JSON body Flagger sends: `spec` is anything with `name` and `namespace`
    (a CanarySpec or an ApplicationSpec); `phase` a Phase or its text."""
    return {
        "name": spec.name,
        "namespace": spec.namespace,
        "phase": str(getattr(phase, "value", phase)),
        "checksum": checksum or "",
        "metadata": dict(hook.metadata),
    }


def url_problem(url: str) -> str | None:
    """Why `url` cannot be called as a webhook, or None."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        return f"invalid webhook URL {url!r}: {exc}"
    if parts.scheme not in ("http", "https"):
        return f"webhook URL must start with http:// or https://, got {url!r}"
    if not host:
        return f"webhook URL has no host: {url!r}"
    return None


def redact(text: str, url: str) -> str:
    """`text` without the user info and query of `url`: they may hold credentials."""
    try:
        parts = urlsplit(url)
        secrets = (parts.password, parts.username, parts.query)
    except ValueError:
        return text.replace(url, "<invalid URL>")
    for secret in filter(None, secrets):
        text = text.replace(secret, "***")
    return text


def call_webhook(hook: Webhook, payload: dict) -> HookResult:
    """POST `payload` to `hook.url` once; never raises. Errors never repeat the URL's
    user info or query."""
    started = time.monotonic()

    def failed(error: str, status: int | None = None) -> HookResult:
        return HookResult(False, status, redact(error, hook.url), time.monotonic() - started)

    problem = url_problem(hook.url)
    if problem:
        return failed(problem)
    timeout_s = hook.timeout_s if hook.timeout_s > 0 else DEFAULT_WEBHOOK_TIMEOUT_S
    try:
        with requests.Session() as session:
            session.trust_env = False
            response = session.post(
                hook.url,
                json=payload,
                # a total deadline: requests hands a urllib3 Timeout through (its stubs name
                # only floats, which bound connect and each read separately)
                timeout=cast(float, urllib3.Timeout(total=timeout_s)),
                allow_redirects=False,
                stream=True,
            )
            response.close()
    except requests.exceptions.Timeout:
        return failed(f"no answer within {timeout_s:g}s from {hook.url}")
    except requests.exceptions.ConnectionError as exc:
        return failed(_connection_error(hook.url, exc))
    except Exception as exc:  # noqa: BLE001 - a webhook that cannot be called has failed
        return failed(f"cannot call {hook.url}: {exc}")
    status = response.status_code
    if status <= SUCCESS_MAX_STATUS:
        return HookResult(True, status, "", time.monotonic() - started)
    return failed(f"HTTP {status} {response.reason or ''}".rstrip() + " (success is <= 202)",
                  status)


def _connection_error(url: str, exc: Exception) -> str:
    text = str(exc)
    host = urlsplit(url).hostname
    if "NameResolutionError" in text or "Name or service not known" in text or (
        "getaddrinfo" in text
    ):
        return f"cannot resolve host {host!r} of {url}"
    if "Connection refused" in text or "ConnectionRefusedError" in text:
        return f"connection refused by {url}"
    if "timed out" in text.lower():  # a connect timeout can surface as a ConnectionError
        return f"no answer from {url} (timed out)"
    return f"cannot connect to {url}: {text}"
