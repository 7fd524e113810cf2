"""What several benchmarks stand up: the seed's canary target on a local platform, with a
primary at v1 and a canary at v2, both ready (bench_platform, bench_compare, profile_hotpaths)."""

from __future__ import annotations

from progressive.model.types import Analysis, CanarySpec
from progressive.waiting import wait_until
from progressive.workloads.base import AppVersion

NAMESPACE = "bench"
TARGET = "croc-hunter"
READY_S = 30.0


def two_versions(platform, primary_replicas: int = 1) -> CanarySpec:
    """Deploy primary v1 (`primary_replicas`) and canary v2 (1 replica); return once ready."""
    spec = CanarySpec(name=TARGET, namespace=NAMESPACE, target=TARGET,
                      analysis=Analysis(step_weight=10))
    wl = platform.workloads(NAMESPACE)
    wl.deploy(spec.primary_name, AppVersion("v1"), replicas=primary_replicas)
    wl.deploy(spec.canary_name, AppVersion("v2"), replicas=1)
    for name in (spec.primary_name, spec.canary_name):
        wait_until(lambda n=name: wl.is_ready(n).ready, timeout=READY_S, what=f"{name} ready")
    return spec
