"""Helpers of the k8s-local tests: objects made with the official client, pods read back."""

from __future__ import annotations

from progressive.platforms.k8s_local.tools import tools_dir

NAMESPACE = "agent-test"
APP_START_S = 10.0  # a Croc Hunter process starts in ~1 s; a loaded 2-core machine takes more
CONTROLLERS_S = 30.0  # deployment -> replicaset -> pod -> scheduled -> bound, on a busy machine


def tools_built() -> bool:
    return all((tools_dir() / "bin" / n).exists() for n in
               ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"))


def deployment(api, name: str, version: str, *, replicas: int = 1, env: dict | None = None,
               image: str | None = None, readiness_period_s: int | None = None) -> None:
    from kubernetes import client

    container = {"name": "croc-hunter", "image": image or f"croc-hunter:{version}",
                 "ports": [{"containerPort": 8080}],
                 "env": [{"name": k, "value": v} for k, v in (env or {}).items()]}
    if readiness_period_s is not None:
        container["readinessProbe"] = {"httpGet": {"path": "/healthz", "port": 8080},
                                       "periodSeconds": readiness_period_s,
                                       "timeoutSeconds": 1, "failureThreshold": 3}
    body = {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [container],
                                           "terminationGracePeriodSeconds": 2}}}}
    client.AppsV1Api(api).create_namespaced_deployment(NAMESPACE, body)


def service(api, name: str) -> None:
    from kubernetes import client

    client.CoreV1Api(api).create_namespaced_service(NAMESPACE, {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
        "spec": {"selector": {"app": name},
                 "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}})


def pods_of(api, name: str, *, terminating: bool = False) -> list[dict]:
    """The pods of Deployment `name` that are not being deleted (with `terminating`, also
    those that are), as camelCase dicts."""
    from kubernetes import client

    pods = client.CoreV1Api(api).list_namespaced_pod(NAMESPACE, label_selector=f"app={name}")
    out = []
    for pod in pods.items:
        as_dict = api.sanitize_for_serialization(pod)
        if terminating or not as_dict["metadata"].get("deletionTimestamp"):
            out.append(as_dict)
    return out


def ready_pods(api, name: str) -> list[dict]:
    return [p for p in pods_of(api, name)
            if any(c["type"] == "Ready" and c["status"] == "True"
                   for c in p.get("status", {}).get("conditions") or [])]
