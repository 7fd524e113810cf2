"""Workloads as Kubernetes Deployments (and their Services), through the official client.

`DeploymentWorkloads` implements the Workloads seam (workloads/base.py) for one namespace:
`deploy` creates or merge-patches a Deployment running Croc Hunter (image tag = the version,
fault knobs as environment variables) and a Service on port 80 -> 8080; readiness is read the
way SEMANTICS.md and `kubectl rollout status` read it. The render functions are pure: the kind
platform, `progressive render` and the tests use them to write the same manifests.

The objects go through progressive/kube.py's `KubeObjects`, as the Istio router's, the cluster
state store's and the Flagger engine's do.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from progressive.errors import UserError
from progressive.kube import MANAGED_BY, KubeObjects, create_or_merge_patch
from progressive.workloads.base import AppVersion, Readiness

CONTAINER_PORT = 8080
SERVICE_PORT = 80
DEFAULT_REPLICAS = 3
SPEC_HASH_ANNOTATION = "progressive.dev/spec-hash"
_KNOB_ENV = {  # AppVersion field -> the app's environment variable (progressive/app/knobs.py)
    "version": "CROC_VERSION",
    "commit": "GIT_SHA",
    "error_rate": "CROC_ERROR_RATE",
    "latency_ms": "CROC_LATENCY_MS",
    "crash_after": "CROC_CRASH_AFTER",
    "never_ready": "CROC_NEVER_READY",
}
_DOCKER_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")


# -- pure renders -------------------------------------------------------------------------------

def app_env(app: AppVersion) -> list[dict]:
    env = {
        "CROC_VERSION": app.version,
        "GIT_SHA": app.commit,
        "CROC_ERROR_RATE": f"{app.error_rate:g}",
        "CROC_LATENCY_MS": f"{app.latency_ms:g}",
        "CROC_CRASH_AFTER": str(app.crash_after),
        "CROC_NEVER_READY": "1" if app.never_ready else "0",
        **app.env,
    }
    return [{"name": k, "value": v} for k, v in env.items()]


def app_from_env(env: list[dict]) -> AppVersion:
    values = {e["name"]: e.get("value", "") for e in env}
    extra = {k: v for k, v in values.items() if k not in _KNOB_ENV.values()}
    return AppVersion(
        version=values.get("CROC_VERSION", ""),
        commit=values.get("GIT_SHA", "unknown"),
        error_rate=float(values.get("CROC_ERROR_RATE", "0") or 0),
        latency_ms=float(values.get("CROC_LATENCY_MS", "0") or 0),
        crash_after=int(values.get("CROC_CRASH_AFTER", "0") or 0),
        never_ready=values.get("CROC_NEVER_READY", "0") == "1",
        env=extra,
    )


def image_for(repo: str, app: AppVersion) -> str:
    if not _DOCKER_TAG.fullmatch(app.version):
        raise UserError(f"version {app.version!r} cannot be an image tag (letters, digits, '_', "
                        "'.', '-'; at most 128 characters)")
    return f"{repo}:{app.version}"


def render_namespace(name: str, labels: dict[str, str] | None = None) -> dict:
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": name,
                         "labels": {**(labels or {}), "istio-injection": "enabled"}}}


def render_deployment(name: str, namespace: str, app: AppVersion, *, image: str,
                      replicas: int | None = DEFAULT_REPLICAS,
                      labels: dict[str, str] | None = None,
                      progress_deadline_s: int = 600) -> dict:
    """A Deployment of Croc Hunter; `replicas=None` leaves the count out (a patch keeps it)."""
    selector = {"app": name}
    version_label = {"version": app.version} if len(app.version) <= 63 else {}

    def probe(**extra) -> dict:
        return {"httpGet": {"path": "/healthz", "port": CONTAINER_PORT}, "periodSeconds": 2,
                "timeoutSeconds": 2, "failureThreshold": 3, **extra}

    spec: dict = {} if replicas is None else {"replicas": replicas}
    spec |= {
        "progressDeadlineSeconds": progress_deadline_s,
        "selector": {"matchLabels": selector},
        "template": {
            "metadata": {"labels": {**(labels or {}), **selector, **version_label},
                         "annotations": {SPEC_HASH_ANNOTATION: app.spec_hash()}},
            "spec": {
                "terminationGracePeriodSeconds": 10,
                "containers": [{
                    "name": "croc-hunter",
                    "image": image,
                    "imagePullPolicy": "IfNotPresent",
                    "ports": [{"name": "http", "containerPort": CONTAINER_PORT}],
                    "env": app_env(app),
                    "readinessProbe": probe(),
                    "livenessProbe": probe(periodSeconds=5, initialDelaySeconds=5),
                }],
            },
        },
    }
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": namespace,
                         "labels": {**(labels or {}), **selector}},
            "spec": spec}


def render_service(name: str, namespace: str, labels: dict[str, str] | None = None) -> dict:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": namespace,
                         "labels": {**(labels or {}), "app": name}},
            "spec": {"selector": {"app": name},
                     "ports": [{"name": "http", "port": SERVICE_PORT,
                                "targetPort": CONTAINER_PORT, "protocol": "TCP"}]}}


def _template_app(template: dict) -> AppVersion:
    return app_from_env(template["spec"]["containers"][0].get("env") or [])


def deployment_readiness(deployment: dict | None, name: str) -> Readiness:
    """SEMANTICS.md readiness: generation observed, all replicas updated and available; a
    passed progress deadline is a failure for good (not retriable)."""
    if deployment is None:
        return Readiness(False, True, f"deployment {name} does not exist")
    spec, status = deployment.get("spec", {}), deployment.get("status", {}) or {}
    generation = deployment.get("metadata", {}).get("generation", 0)
    if status.get("observedGeneration", 0) < generation:
        return Readiness(False, True, f"waiting for deployment {name} spec update to be observed")
    for cond in status.get("conditions") or []:
        if cond.get("type") == "Progressing" and cond.get("reason") == "ProgressDeadlineExceeded":
            return Readiness(False, False, f"deployment {name} exceeded its progress deadline")
    want = spec.get("replicas", 1)
    updated = status.get("updatedReplicas", 0)
    if want == 0:
        return Readiness(True, True, f"deployment {name} is scaled to zero")
    if updated < want:
        return Readiness(False, True, f"waiting for deployment {name} rollout: {updated} of "
                         f"{want} new replicas updated")
    if status.get("replicas", 0) > updated:
        return Readiness(False, True, f"waiting for deployment {name} rollout: "
                         f"{status['replicas'] - updated} old replicas pending termination")
    available = status.get("availableReplicas", 0)
    if available < updated:
        return Readiness(False, True, f"waiting for deployment {name} rollout: {available} of "
                         f"{updated} updated replicas available")
    return Readiness(True, True, "")


def ensure_namespace(objects, name: str, labels: dict[str, str], *, adopt: bool) -> None:
    """Create the namespace (labelled, sidecar injection on). An existing one is left alone,
    unless `adopt` (a cluster of our own): then sidecar injection is switched on in it."""
    existing = objects.get("v1", "Namespace", name)
    if existing is None:
        create_or_merge_patch(objects, render_namespace(name, labels))
    elif adopt and existing["metadata"].get("labels", {}).get("istio-injection") != "enabled":
        objects.merge_patch("v1", "Namespace", name, None,
                            {"metadata": {"labels": {"istio-injection": "enabled"}}})


# -- the Workloads seam -------------------------------------------------------------------------

class DeploymentWorkloads:
    """Croc Hunter Deployments (and Services) in one namespace."""

    def __init__(self, api_client, namespace: str, image_repo: str = "croc-hunter", *,
                 objects=None, labels: dict[str, str] | None = None,
                 ensure_image: Callable[[str], None] | None = None,
                 services: bool = True, adopt_namespace: bool = True,
                 address_of: Callable[[str], str] | None = None):
        self.namespace = namespace
        self.image_repo = image_repo
        self.objects = objects if objects is not None else KubeObjects(api_client)
        self.labels = {**MANAGED_BY, **(labels or {})}
        self.ensure_image = ensure_image  # e.g. tag + `kind load` the image before it is used
        self.services = services  # False when Flagger makes the Services itself
        self.adopt_namespace = adopt_namespace
        self.address_of = address_of or (lambda pod_ip: pod_ip)  # pod IP -> dialable address
        self._namespace_ready = False

    def _get(self, name: str) -> dict | None:
        return self.objects.get("apps/v1", "Deployment", name, self.namespace)

    def deploy(self, name: str, app: AppVersion, replicas: int | None = None) -> None:
        image = image_for(self.image_repo, app)
        if not self._namespace_ready:
            ensure_namespace(self.objects, self.namespace, self.labels, adopt=self.adopt_namespace)
            self._namespace_ready = True
        if self.ensure_image is not None:
            self.ensure_image(image)
        existing = self._get(name)
        if replicas is None and existing is None:
            replicas = DEFAULT_REPLICAS
        body = render_deployment(name, self.namespace, app, image=image, replicas=replicas,
                                 labels=self.labels)
        if existing is None:
            create_or_merge_patch(self.objects, body)
        else:
            self.objects.merge_patch("apps/v1", "Deployment", name, self.namespace, body)
        if self.services:
            create_or_merge_patch(self.objects, render_service(name, self.namespace, self.labels))

    def scale(self, name: str, replicas: int) -> None:
        self.objects.merge_patch("apps/v1", "Deployment", name, self.namespace,
                                 {"spec": {"replicas": replicas}})

    def is_ready(self, name: str) -> Readiness:
        return deployment_readiness(self._get(name), name)

    def spec_hash(self, name: str) -> str | None:
        dep = self._get(name)
        if dep is None:
            return None
        template = dep["spec"]["template"]
        annotations = template.get("metadata", {}).get("annotations") or {}
        return annotations.get(SPEC_HASH_ANNOTATION) or _template_app(template).spec_hash()

    def app(self, name: str) -> AppVersion | None:
        dep = self._get(name)
        return None if dep is None else _template_app(dep["spec"]["template"])

    def stop_all(self) -> None:
        """Delete the Deployments and Services this project made in the namespace (by label)."""
        selector = ",".join(f"{k}={v}" for k, v in self.labels.items())
        for api_version, kind in (("apps/v1", "Deployment"), ("v1", "Service")):
            for obj in self.objects.list(api_version, kind, self.namespace,
                                         label_selector=selector):
                self.objects.delete(api_version, kind, obj["metadata"]["name"], self.namespace)

    def replicas(self, name: str) -> int:
        dep = self._get(name)
        return 0 if dep is None else int(dep["spec"].get("replicas", 1))

    def endpoints(self, name: str) -> list[tuple[str, int]]:
        """(address, container port) of each ready pod of `name`, selected by the Deployment's
        own selector: the pod IP through `address_of` (k8s-local: its loopback address);
        dialable only where the platform declares "workload-endpoints"."""
        dep = self._get(name)
        if dep is None:
            return []
        labels = dep["spec"]["selector"].get("matchLabels", {})
        port = dep["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"]
        pods = self.objects.list("v1", "Pod", self.namespace,
                                 label_selector=",".join(f"{k}={v}" for k, v in labels.items()))
        return [(self.address_of(pod["status"]["podIP"]), int(port)) for pod in pods
                if _serving(pod)]


def _serving(pod: dict) -> bool:
    """Ready, with an address, and not on its way out (a deleted pod may still read Running)."""
    status = pod.get("status") or {}
    ready = any(c.get("type") == "Ready" and c.get("status") == "True"
                for c in status.get("conditions") or [])
    return ready and bool(status.get("podIP")) and not pod["metadata"].get("deletionTimestamp")
