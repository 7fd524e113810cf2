"""A webhook receiver a test steers, for gates and hooks (SEMANTICS.md §8)."""

from __future__ import annotations

import time

from progressive.testing.timeouts import SuiteTimeouts


class GateServer:
    """A webhook receiver the test steers: each path answers `open` (200) or `closed` (403).

    Runs aiohttp on 127.0.0.1 in a thread; records every call (path, payload) so a test can
    see which hooks the engine called, in which phase.
    """

    def __init__(self) -> None:
        import asyncio
        import threading

        self.answers: dict[str, int] = {}
        self.calls: list[tuple[str, dict, float]] = []  # (path, payload, unix time)
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._failed: BaseException | None = None
        self._thread = threading.Thread(target=self._serve, daemon=True, name="gate-server")
        self._thread.start()
        if not self._ready.wait(SuiteTimeouts.machine_s) or self._failed is not None:
            raise RuntimeError(f"the gate server did not start: {self._failed!r}")

    def __enter__(self) -> GateServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _serve(self) -> None:
        import asyncio

        from aiohttp import web

        async def handle(request: web.Request) -> web.Response:
            try:
                payload = await request.json()
            except ValueError:
                payload = {}
            self.calls.append((request.path, payload, time.time()))
            return web.Response(status=self.answers.get(request.path, 200))

        async def start() -> None:
            app = web.Application()
            app.router.add_route("*", "/{tail:.*}", handle)
            runner = self._runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", 0).start()
            self.port = runner.addresses[0][1]
            self._ready.set()

        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(start())
        except BaseException as exc:  # noqa: BLE001 - reported by __init__, which waits
            self._failed = exc
            self._ready.set()
            self._loop.close()
            return
        self._loop.run_forever()
        self._loop.close()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self, path: str) -> None:
        self.answers[path] = 403

    def open(self, path: str) -> None:
        self.answers[path] = 200

    def called(self, path: str) -> int:
        return sum(1 for p, _, _ in self.calls if p == path)

    def first_call(self, path: str) -> float:
        """When `path` was first called (unix time)."""
        return min(t for p, _, t in self.calls if p == path)

    def stop(self) -> None:
        import asyncio

        stopped = asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop)
        stopped.result(SuiteTimeouts.machine_s)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(SuiteTimeouts.machine_s)
