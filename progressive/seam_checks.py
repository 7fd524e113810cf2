"""Every implementation held to its seam by the type checker (`make lint` runs mypy on it).

Nothing here runs: each function takes the implementations and returns them as their
Protocol, so mypy reports any method or attribute a Protocol declares (and so callers may use)
that an implementation lacks or types differently. A new implementation gets a line here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from progressive.clock import Clock, FakeClock, RealClock
    from progressive.engine.state import FileStateStore, MemoryStateStore, StateStore
    from progressive.engines.base import EngineUnderTest, ReleasingEngine
    from progressive.engines.bundled import BundledEngine
    from progressive.engines.flagger import FlaggerEngine
    from progressive.metrics.base import MetricsProvider
    from progressive.metrics.prometheus import PrometheusProvider
    from progressive.platforms.base import Platform
    from progressive.platforms.k8s_local.platform import K8sLocalPlatform
    from progressive.platforms.kind.kubeconfig import KubeconfigPlatform
    from progressive.platforms.kind.platform import KindPlatform
    from progressive.platforms.kind.state import ConfigMapStateStore
    from progressive.platforms.local.envoy import EnvoyGateway
    from progressive.platforms.local.platform import LocalPlatform
    from progressive.platforms.local.workloads import LocalWorkloads
    from progressive.routing.base import Router
    from progressive.routing.envoy import EnvoyRouter, Gateway
    from progressive.routing.istio import IstioRouter
    from progressive.workloads.base import Workloads
    from progressive.workloads.kubernetes import DeploymentWorkloads

    def routers(envoy: EnvoyRouter, istio: IstioRouter) -> list[Router]:
        return [envoy, istio]

    def gateways(envoy: EnvoyGateway) -> list[Gateway]:
        return [envoy]

    def metrics_providers(prometheus: PrometheusProvider) -> list[MetricsProvider]:
        return [prometheus]

    def workloads(local: LocalWorkloads, deployments: DeploymentWorkloads) -> list[Workloads]:
        return [local, deployments]

    def platforms(local: LocalPlatform, kind: KindPlatform, kubeconfig: KubeconfigPlatform,
                  k8s_local: K8sLocalPlatform) -> list[Platform]:
        return [local, kind, kubeconfig, k8s_local]

    def engines(bundled: BundledEngine, flagger: FlaggerEngine) -> list[EngineUnderTest]:
        return [bundled, flagger]

    def releasing_engines(bundled: BundledEngine) -> list[ReleasingEngine]:
        return [bundled]

    def clocks(real: RealClock, fake: FakeClock) -> list[Clock]:
        return [real, fake]

    def state_stores(memory: MemoryStateStore, file: FileStateStore,
                     config_map: ConfigMapStateStore) -> list[StateStore]:
        return [memory, file, config_map]
