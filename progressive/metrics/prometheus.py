"""MetricsProvider over a Prometheus server's HTTP API (prometheus-api-client).

The engine asks one instant query per check per tick. Every outcome other than one finite
value is an error with a message a user can act on: no series or NaN/Inf is `NoValues`,
several series, an unreachable server, an HTTP error, a timeout or bad PromQL is `QueryFailed`.
Retries are off (urllib3 `Retry(total=0)`) so a dead server fails at once instead of after
the client's default back-off; the engine's own tick is the retry.
"""

from __future__ import annotations

import ast
import json
import math
import re
import time

import requests
import urllib3
from prometheus_api_client import PrometheusApiClientException, PrometheusConnect
from urllib3.util.retry import Retry

from progressive.metrics.base import NoValues, QueryFailed


class PrometheusProvider:
    def __init__(self, url: str, timeout_s: float = 5.0):
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s
        self._client = PrometheusConnect(
            url=self.url, disable_ssl=True, retry=Retry(total=0), timeout=timeout_s
        )

    def run_query(self, promql: str) -> float:
        """The value of an instant query that returns exactly one series (or a scalar)."""
        try:
            result = self._client.custom_query(promql)
        except PrometheusApiClientException as exc:
            raise QueryFailed(
                f"Prometheus at {self.url} refused the query: {_api_error(exc)}"
            ) from exc
        except requests.RequestException as exc:
            if _timed_out(exc):
                raise QueryFailed(
                    f"Prometheus at {self.url} did not answer within {self.timeout_s:g}s"
                ) from exc
            if isinstance(exc, requests.ConnectionError):
                raise QueryFailed(f"Prometheus at {self.url} is unreachable: {exc}") from exc
            raise QueryFailed(f"Prometheus at {self.url}: {exc}") from exc
        except (ValueError, KeyError) as exc:  # not Prometheus' JSON
            raise QueryFailed(f"Prometheus at {self.url}: {exc}") from exc
        return _single_value(result, promql)

    def is_online(self) -> bool:
        try:
            return bool(self._client.check_prometheus_connection())
        except Exception:  # noqa: BLE001 - "is it up?" must answer, never raise
            return False

    def close(self) -> None:
        self._client.close()


def delete_series(url: str, selectors: list[str], *, until: float | None = None) -> None:
    """Delete every sample of the series matching any of `selectors` up to `until` (default:
    now), through the admin API (`--web.enable-admin-api`). Samples scraped later are kept:
    the end is explicit, since an open end would hide them too. QueryFailed if refused."""
    end = time.time() if until is None else until
    params = [("match[]", s) for s in selectors] + [("end", f"{end:.3f}")]
    url = url.rstrip("/")
    try:
        answer = requests.post(f"{url}/api/v1/admin/tsdb/delete_series", params=params,
                               timeout=10)
    except requests.RequestException as exc:
        raise QueryFailed(f"Prometheus at {url} is unreachable: {exc}") from None
    if answer.status_code != 204:
        raise QueryFailed(f"Prometheus at {url} refused to delete series ({answer.status_code}, "
                          f"is --web.enable-admin-api set?): {answer.text.strip()[:200]}")


def _single_value(result: object, promql: str) -> float:
    # A scalar query answers [time, "value"]; a vector answers a list of {metric, value}.
    if isinstance(result, list) and len(result) == 2 and not isinstance(result[0], dict):
        raw = result[1]
    elif isinstance(result, list):
        if not result:
            raise NoValues(f"no series for query: {_one_line(promql)}")
        if len(result) > 1:
            labels = ", ".join(_labels(r.get("metric", {})) for r in result[:3])
            raise QueryFailed(
                f"query returned {len(result)} series, expected one "
                f"(aggregate it, e.g. with sum): {labels} ...: {_one_line(promql)}"
            )
        raw = result[0].get("value", [None, None])[1]
    else:
        raise QueryFailed(f"unexpected answer {result!r} for query: {_one_line(promql)}")
    try:
        value = float(raw)
    except (TypeError, ValueError) as exc:
        raise QueryFailed(f"non-numeric value {raw!r} for query: {_one_line(promql)}") from exc
    if math.isnan(value):
        raise NoValues(f"query returned NaN (no traffic in the window?): {_one_line(promql)}")
    if math.isinf(value):
        raise NoValues(f"query returned {value} (division by zero?): {_one_line(promql)}")
    return value


def _timed_out(exc: requests.RequestException) -> bool:
    """With retries off, urllib3 reports a read timeout as a ConnectionError wrapping it."""
    if isinstance(exc, requests.Timeout):
        return True
    reason = getattr(exc.args[0] if exc.args else None, "reason", None)
    if isinstance(reason, urllib3.exceptions.NewConnectionError):  # refused: a TimeoutError child
        return False
    return isinstance(reason, urllib3.exceptions.TimeoutError)


def _api_error(exc: PrometheusApiClientException) -> str:
    """The client says `HTTP Status Code N (b'{json}')`: keep the status and Prometheus' error."""
    text = str(exc)
    match = re.fullmatch(r"HTTP Status Code (\d+) \((b'.*'|b\".*\")\)", text, re.DOTALL)
    if not match:
        return text
    try:
        body = json.loads(ast.literal_eval(match.group(2)))
        return f"HTTP {match.group(1)}: {body['error']}"
    except (ValueError, SyntaxError, KeyError, TypeError):
        return text


def _labels(metric: dict) -> str:
    return "{" + ",".join(f"{k}={v!r}" for k, v in sorted(metric.items())) + "}"


def _one_line(promql: str) -> str:
    return " ".join(promql.split())
