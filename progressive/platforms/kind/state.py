"""The bundled engine's state kept in the cluster, so that a restarted engine resumes.

One ConfigMap per canary, `progressive-state-<canary>` in the canary's namespace, holding the
`CanaryState` document (engine/state.py) as JSON under `data.state`. A save is one
create-or-merge-patch, which the API server applies atomically: a reader sees the old or the
new document, never half of one. The cluster platforms hand it to the bundled engine through
`platform.state_store()`.
"""

from __future__ import annotations

import json

from progressive.engine.state import CanaryState
from progressive.kube import MANAGED_BY, create_or_merge_patch

PREFIX = "progressive-state-"


def configmap_name(canary: str) -> str:
    return f"{PREFIX}{canary}"[:253]


def render_state_configmap(state: CanaryState, labels: dict[str, str] | None = None) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": configmap_name(state.name), "namespace": state.namespace,
                         "labels": {**MANAGED_BY, **(labels or {}),
                                    "progressive.dev/canary": state.name[:63]}},
            "data": {"state": json.dumps(state.to_dict(), sort_keys=True)}}


class ConfigMapStateStore:
    """StateStore (engine/state.py) over ConfigMaps, through workloads/kubernetes.KubeObjects."""

    def __init__(self, objects, labels: dict[str, str] | None = None):
        self.objects = objects
        self.labels = labels or {}

    def load(self, namespace: str, name: str) -> CanaryState | None:
        cm = self.objects.get("v1", "ConfigMap", configmap_name(name), namespace)
        if cm is None or "state" not in (cm.get("data") or {}):
            return None
        return CanaryState.from_dict(json.loads(cm["data"]["state"]))

    def save(self, state: CanaryState) -> None:
        create_or_merge_patch(self.objects, render_state_configmap(state, self.labels))
