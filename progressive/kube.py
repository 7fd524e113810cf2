"""The one place that talks to a Kubernetes API server, for every cluster seam.

`KubeObjects` gets, lists, creates, merge-patches and deletes any object as a plain dict
(DynamicClient; merge-patch for every update, since custom resources refuse strategic merge).
Used by the Deployment workloads, the Istio router, the cluster state store and the Flagger
engine; tests replace it with an in-memory double of the same shape. Neutral: it knows no seam.
"""

from __future__ import annotations

from typing import Any

MANAGED_BY = {"app.kubernetes.io/managed-by": "progressive"}
MERGE_PATCH = "application/merge-patch+json"


class KubeObjects:
    """Get, list, create, merge-patch and delete any object as a plain dict (camelCase keys)."""

    def __init__(self, api_client, request_timeout_s: float = 30.0):
        self._api_client = api_client
        self._timeout = request_timeout_s
        self._dyn: Any = None  # a DynamicClient, made on first use

    def _resource(self, api_version: str, kind: str):
        if self._dyn is None:  # discovery talks to the server: only on first use
            from kubernetes.dynamic import DynamicClient

            self._dyn = DynamicClient(self._api_client)
        return self._dyn, self._dyn.resources.get(api_version=api_version, kind=kind)

    def get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> dict | None:
        from kubernetes.dynamic.exceptions import NotFoundError

        dyn, res = self._resource(api_version, kind)
        try:
            return dyn.get(res, name=name, namespace=namespace,
                           _request_timeout=self._timeout).to_dict()
        except NotFoundError:
            return None

    def list(self, api_version: str, kind: str, namespace: str | None = None, *,
             label_selector: str | None = None, field_selector: str | None = None) -> list[dict]:
        dyn, res = self._resource(api_version, kind)
        found = dyn.get(res, namespace=namespace, label_selector=label_selector,
                        field_selector=field_selector, _request_timeout=self._timeout)
        return found.to_dict().get("items", [])

    def create(self, body: dict) -> dict:
        dyn, res = self._resource(body["apiVersion"], body["kind"])
        return dyn.create(res, body=body, namespace=body["metadata"].get("namespace"),
                          _request_timeout=self._timeout).to_dict()

    def merge_patch(self, api_version: str, kind: str, name: str, namespace: str | None,
                    patch: dict) -> dict:
        dyn, res = self._resource(api_version, kind)
        return dyn.patch(res, body=patch, name=name, namespace=namespace,
                         content_type=MERGE_PATCH, _request_timeout=self._timeout).to_dict()

    def delete(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> bool:
        from kubernetes.dynamic.exceptions import NotFoundError

        dyn, res = self._resource(api_version, kind)
        try:
            dyn.delete(res, name=name, namespace=namespace, _request_timeout=self._timeout)
        except NotFoundError:
            return False
        return True


def create_or_merge_patch(objects, body: dict) -> dict:
    """Create `body`, or merge-patch the existing object with it (`objects`: KubeObjects)."""
    meta = body["metadata"]
    if objects.get(body["apiVersion"], body["kind"], meta["name"], meta.get("namespace")) is None:
        try:
            return objects.create(body)
        except Exception as exc:  # noqa: BLE001 - a create race: someone else created it
            if getattr(exc, "status", None) != 409:
                raise
    return objects.merge_patch(body["apiVersion"], body["kind"], meta["name"],
                               meta.get("namespace"), body)
