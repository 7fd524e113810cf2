"""The type checker holds implementations to their Protocols (progressive/seam_checks.py).

mypy is run on a small module written here: a router lacking one method of the Router
Protocol must fail the check, naming the method; the same router with the method passes (so
the failure is the missing method, not the set-up). A last test runs the check on the real
seam_checks.py, as `make lint` does over the whole tree.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from mypy import api

REPO = Path(__file__).resolve().parents[2]

ROUTER = '''
from progressive.model.types import CanarySpec, VirtualServiceSpec
from progressive.routing.base import Router, Routes


class PartialRouter:
    def reconcile(self, canary: CanarySpec) -> None: ...
    def set_routes(self, canary: CanarySpec, primary_weight: int, canary_weight: int,
                   mirrored: bool = False) -> None: ...
    def get_routes(self, canary: CanarySpec) -> Routes: return Routes(100, 0)
    def finalize(self, canary: CanarySpec) -> None: ...
    def apply_virtual_service(self, vs: VirtualServiceSpec) -> None: ...
{extra}

def held_to_the_seam(router: PartialRouter) -> Router:
    return router
'''
REMOVE = "    def remove(self, namespace: str, name: str) -> None: ..."


def check(path: Path) -> tuple[str, int]:
    out, err, code = api.run([str(path), "--config-file", str(REPO / "pyproject.toml"),
                              "--follow-imports=silent", "--no-incremental"])
    return out + err, code


@pytest.mark.parametrize("complete", [False, True], ids=["missing-remove", "complete"])
def test_an_implementation_missing_a_protocol_method_fails_the_check(tmp_path, complete):
    module = tmp_path / "partial_router.py"
    module.write_text(textwrap.dedent(ROUTER).format(extra=REMOVE if complete else ""))
    output, code = check(module)
    if complete:
        assert code == 0, output
    else:
        assert code == 1, output
        assert '"PartialRouter" is missing following "Router" protocol member' in output
        assert "remove" in output


def test_every_implementation_in_the_tree_meets_its_protocol():
    output, code = check(REPO / "progressive" / "seam_checks.py")
    assert code == 0, output
