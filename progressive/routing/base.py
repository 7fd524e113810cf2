"""The Router seam: how the engine changes and reads traffic routing (DESIGN.md).

One implementation per data plane: `envoy.py` (the local gateway, file-based xDS) and
`istio.py` (a VirtualService in a cluster). `get_routes` always reads the *live* state back
from the data plane, never from memory; the engine depends on that.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from progressive.model.types import CanarySpec, VirtualServiceSpec


@dataclass(frozen=True)
class Routes:
    primary_weight: int
    canary_weight: int
    mirrored: bool = False


class RouterError(Exception):
    """The data plane refused or did not confirm a routing change."""


class Router(Protocol):
    def reconcile(self, canary: CanarySpec) -> None:
        """Create the route for the canary if missing (100/0 to primary); keep existing weights."""

    def set_routes(
        self, canary: CanarySpec, primary_weight: int, canary_weight: int, mirrored: bool = False
    ) -> None:
        """Apply the weights (and the A/B match from the spec, if any); return once live."""

    def get_routes(self, canary: CanarySpec) -> Routes:
        """Read the live weights back from the data plane."""

    def finalize(self, canary: CanarySpec) -> None:
        """Remove what reconcile created."""

    def apply_virtual_service(self, vs: VirtualServiceSpec) -> None:
        """Apply a fixed split / header route document (the 1% preview)."""

    def remove(self, namespace: str, name: str) -> None:
        """Delete the route of a canary or VirtualService named `name` (no error when absent)."""
