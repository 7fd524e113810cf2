"""Helpers of the kind platform's tests: the fixture specs, and an in-memory double of
progressive/kube.KubeObjects, the project's seam to the API server.

It keeps objects as dicts and applies the two API behaviours the seams rely on: JSON merge
patch (RFC 7386: mappings merge, lists and scalars are replaced, null deletes) and the
Deployment's `metadata.generation` moving when its spec changes. A create of an existing object
fails with status 409, a patch of a missing one with 404, as the API server answers.
"""

from __future__ import annotations

import copy

from progressive.model.types import CanarySpec
from progressive.model.validate import load_spec
from progressive.resources import fixture

SPECS = fixture("specs")


def spec(name: str) -> CanarySpec:
    return load_spec(SPECS / name, CanarySpec)


class ApiError(Exception):
    def __init__(self, status: int, message: str):
        self.status = status
        super().__init__(f"({status}) {message}")


def merge_patch(target: object, patch: object) -> object:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


class MemoryObjects:
    def __init__(self) -> None:
        self.store: dict[tuple[str, str, str | None, str], dict] = {}
        self.requests: list[tuple[str, str, str]] = []  # (verb, kind, name)

    @staticmethod
    def _key(api_version: str, kind: str, name: str, namespace: str | None):
        group = api_version.split("/")[0] if "/" in api_version else ""
        return (group, kind, namespace, name)

    def get(self, api_version, kind, name, namespace=None):
        self.requests.append(("get", kind, name))
        found = self.store.get(self._key(api_version, kind, name, namespace))
        return copy.deepcopy(found)

    def list(self, api_version, kind, namespace=None, *, label_selector=None,
             field_selector=None):
        wanted = dict(p.split("=", 1) for p in (label_selector or "").split(",") if p)
        out = []
        for (_, k, ns, _), obj in self.store.items():
            labels = obj["metadata"].get("labels") or {}
            if k == kind and (namespace is None or ns == namespace) and all(
                    labels.get(a) == b for a, b in wanted.items()):
                out.append(copy.deepcopy(obj))
        return out

    def create(self, body):
        meta = body["metadata"]
        key = self._key(body["apiVersion"], body["kind"], meta["name"], meta.get("namespace"))
        self.requests.append(("create", body["kind"], meta["name"]))
        if key in self.store:
            raise ApiError(409, f"{body['kind']} {meta['name']} already exists")
        obj = copy.deepcopy(body)
        obj["metadata"]["generation"] = 1
        self.store[key] = obj
        return copy.deepcopy(obj)

    def merge_patch(self, api_version, kind, name, namespace, patch):
        key = self._key(api_version, kind, name, namespace)
        self.requests.append(("patch", kind, name))
        if key not in self.store:
            raise ApiError(404, f"{kind} {name} not found")
        old = self.store[key]
        new = merge_patch(old, patch)
        if new.get("spec") != old.get("spec"):
            new["metadata"]["generation"] = old["metadata"].get("generation", 1) + 1
        self.store[key] = new
        return copy.deepcopy(new)

    def delete(self, api_version, kind, name, namespace=None):
        self.requests.append(("delete", kind, name))
        return self.store.pop(self._key(api_version, kind, name, namespace), None) is not None

    def set_status(self, api_version, kind, name, namespace, status: dict) -> None:
        """What a controller would write (Deployment rollout, Flagger's Canary status)."""
        self.store[self._key(api_version, kind, name, namespace)]["status"] = status
