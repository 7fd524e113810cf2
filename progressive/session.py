"""One platform lifecycle for every command and the pytest plugin.

    with platform_session("local", Path(".progressive"), say=print) as s:
        s.platform.router() ...            # s.owned: started for this block (and stopped after)

Used by `progressive rollout` / `preview` (progressive/rollout.py, commands/preview.py) and the
plugin's `platform` fixture. What it guarantees, whoever calls it:

- **attach**: a local or k8s-local platform already running in the state dir (`progressive up`,
  or `progressive conformance --workers N` for its test workers) is used
  and left running (a run on it calls `clear_metrics` when it starts something new, so that it
  is never judged on an earlier run's samples).
- **cleanup of a crashed run**: a state dir whose platform is not running may still record
  processes of a harness that was SIGKILLed: they are stopped before anything starts.
- **up**: the platform is started, then Prometheus' first scrape of the gateway is awaited (an
  analysis that starts before it sees no data).
- **teardown**: what the block started is stopped on success, error, Ctrl-C and SIGTERM, with
  a second signal ignored until every process is down (unless `keep`).
- an `EnvironmentFailed` leaving the block names the state dir's logs.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from progressive.errors import EnvironmentFailed, UserError
from progressive.platforms.base import Platform
from progressive.platforms.factory import make_platform

Say = Callable[[str], None]


@dataclass(frozen=True)
class Session:
    platform: Platform
    owned: bool  # started by this session (stopped at its end unless kept)


def _quiet(_: str) -> None:
    pass


@contextmanager
def platform_session(name: str, state_dir: Path, *, say: Say = _quiet,
                     keep: bool = False, kubernetes_version: str | None = None,
                     attach_only: bool = False) -> Iterator[Session]:
    """The platform `name` for the block: attached when a local or k8s-local one runs in
    `state_dir`,
    otherwise started (after a crashed run's leftovers are stopped) and, unless `keep`,
    stopped at the end. `kubernetes_version`: a release built beside the pinned one, on
    k8s-local (`progressive tools install --kubernetes-version X.Y.Z`). `attach_only`: never
    start or stop one (a process sharing a platform another one owns)."""
    state_dir = Path(state_dir)
    try:
        attached = _attach(name, state_dir)
        if attached is not None:
            say(f"using the {name} platform running in {state_dir}")
            attached.wait_for_metrics()  # at once, unless `progressive up` has just started it
            yield Session(attached, owned=False)
            return
        if attach_only:
            raise UserError(f"no {name} platform runs in {state_dir} to share"
                            + ("" if name in ("local", "k8s-local") else
                               f" (test workers share only a local or k8s-local platform; run "
                               f"{name} with one worker)"))
        options: dict[str, object] = ({"die_with_parent": not keep} if name == "local"
                                      else {"keep_env": keep})
        if kubernetes_version:
            if name != "k8s-local":
                raise UserError("--kubernetes-version chooses the control plane of --platform "
                                f"k8s-local; {name} does not start one")
            options["kubernetes_version"] = kubernetes_version
        if name in ("local", "k8s-local") and state_dir.exists():
            make_platform(name, state_dir).down()  # a crashed run's processes and workloads
        platform = make_platform(name, state_dir, **options)
        say(f"starting a {name} platform in {state_dir}")
        try:
            platform.up()
            platform.wait_for_metrics()  # the first analysis checks need data
            yield Session(platform, owned=True)
        finally:
            if not keep:
                with teardown_shielded():
                    platform.down()
    except EnvironmentFailed as exc:
        exc.logs = exc.logs or str(state_dir.resolve() / "logs")
        raise


def _attach(name: str, state_dir: Path) -> Platform | None:
    if name == "k8s-local":
        from progressive.platforms.k8s_local.platform import K8sLocalPlatform

        return K8sLocalPlatform.attach(state_dir) if K8sLocalPlatform.is_running(state_dir) else None
    if name != "local":
        return None
    from progressive.platforms.local.platform import LocalPlatform

    return LocalPlatform.attach(state_dir) if LocalPlatform.is_running(state_dir) else None


@contextmanager
def teardown_shielded() -> Iterator[None]:
    """A second Ctrl-C / SIGTERM during teardown waits: every process must be stopped."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
