"""Request conditions (`match:`) shared by the Canary (A/B testing) and VirtualService readers.

Istio's HTTPMatchRequest in the subset the routers can honour: `headers` (exact / prefix /
regex; a cookie is the `cookie` header with a regex) and `uri.prefix`. Other Istio match
fields are refused, because a router that silently dropped a condition would send traffic
where the user did not mean it to go. Header names are lower-cased (HTTP reads them regardless
of case).
"""

from __future__ import annotations

import re

from progressive.model.fields import Fields, Problems, describe, join, show
from progressive.model.types import HeaderMatch, MatchKind, RequestMatch

_KINDS = tuple(k.value for k in MatchKind)
_UNSUPPORTED = ("method", "queryParams", "scheme", "authority", "port", "sourceLabels",
                "sourceNamespace", "withoutHeaders", "gateways", "ignoreUriCase", "statPrefix")


def parse_matches(parent: Fields, key: str) -> tuple[RequestMatch, ...]:
    """The list under `parent[key]`; an item with no condition is a problem."""
    out = []
    for m in parent.mappings(key, ("name", "headers", "uri", *_UNSUPPORTED)):
        unsupported = [f for f in _UNSUPPORTED if m.has(f)]
        for field in unsupported:
            m.p.error(m.at(field), "this match condition is not supported "
                      "(supported: headers exact/prefix/regex, uri.prefix)")
        headers = _headers(m)
        uri_prefix = _uri_prefix(m)
        if not m.has("headers") and not m.has("uri") and not unsupported:
            m.p.error(m.path, "a match needs headers or uri")
        out.append(RequestMatch(headers=headers, uri_prefix=uri_prefix))
    return tuple(out)


def _headers(m: Fields) -> tuple[HeaderMatch, ...]:
    h = m.fields("headers", None)
    if h is None:
        return ()
    if not h.data:
        m.p.error(h.path, "must name at least one header")
    out = []
    for name, value in h.data.items():
        path = join(h.path, name)
        if not isinstance(name, str) or not name.strip():
            m.p.error(path, f"a header name must be a non-empty string, got {describe(name)}")
            continue
        hm = _string_match(value, path, m.p)
        if hm is not None:
            out.append(HeaderMatch(name=name.lower(), kind=hm[0], value=hm[1]))
    return tuple(out)


def _uri_prefix(m: Fields) -> str | None:
    uri = m.fields("uri", ("prefix", "exact", "regex"))
    if uri is None:
        return None
    for other in ("exact", "regex"):
        if uri.has(other):
            m.p.error(uri.at(other), "only uri.prefix is supported")
    prefix = uri.str("prefix")
    if prefix is not None and not prefix.startswith("/"):
        m.p.error(uri.at("prefix"), f"must start with '/', got {show(prefix)}")
        return None
    if prefix is None and not uri.has("exact") and not uri.has("regex"):
        m.p.error(uri.path, "needs prefix")
    return prefix


def _string_match(value: object, path: str, p: Problems) -> tuple[MatchKind, str] | None:
    if not isinstance(value, dict):
        p.error(path, f"must be a mapping with one of {', '.join(_KINDS)}, got {describe(value)}")
        return None
    given = [k for k in value if k in _KINDS and value[k] is not None]
    for k in value:
        if k not in _KINDS:
            p.error(join(path, k), f"unknown match kind (use one of {', '.join(_KINDS)})")
    if len(given) != 1:
        if given or all(k in _KINDS for k in value):
            p.error(path, f"needs exactly one of {', '.join(_KINDS)}, got {len(given)}")
        return None
    kind = given[0]
    text = value[kind]
    if not isinstance(text, str):
        p.error(join(path, kind), f"must be a string, got {describe(text)}")
        return None
    if kind == "regex":
        try:
            re.compile(text)
        except (re.error, OverflowError) as e:
            p.error(join(path, kind), f"not a valid regular expression: {e}")
            return None
        except RecursionError:
            p.error(join(path, kind), "not a valid regular expression: nested too deeply")
            return None
    return MatchKind(kind), text
