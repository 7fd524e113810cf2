"""Headless Chromium for the report tests, driven over the DevTools protocol.

    with Chromium(tmp_path) as browser:
        page = browser.look(Path("summary.html").as_uri(), PAGE_FACTS, tmp_path / "summary.png")
        page["images"], page["text"]

Chromium (Debian's `chromium`, found on PATH) runs headless with its DevTools endpoint on
127.0.0.1 at a port it picks (read from DevToolsActivePort); aiohttp's websocket client speaks
the protocol: navigate, wait for the load event (and an optional condition, for a page that
renders with JavaScript), evaluate an expression, capture a full-page screenshot.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import shutil
import subprocess
import time
from pathlib import Path

import aiohttp

from progressive.waiting import wait_until

BINARIES = ("chromium", "chromium-browser", "google-chrome", "chrome")
START_TIMEOUT_S = 30.0
PAGE_TIMEOUT_S = 30.0
INSTALL = "apt-get install -y chromium (Debian/Ubuntu); make install does it where it may"

# Every image once loaded (or failed), with its natural size; and the page's visible text.
PAGE_FACTS = """
(async () => {
  await Promise.all(Array.from(document.images).map(i => i.complete ? null :
    new Promise(done => { i.addEventListener('load', done); i.addEventListener('error', done); })));
  return {
    title: document.title,
    text: document.body ? document.body.innerText : '',
    images: Array.from(document.images).map(i => ({alt: i.alt, width: i.naturalWidth,
                                                   height: i.naturalHeight})),
  };
})()
"""


def chromium_binary() -> str | None:
    return next((found for name in BINARIES if (found := shutil.which(name))), None)


class Chromium:
    def __init__(self, workdir: Path):
        self.workdir = Path(workdir)
        self.profile = self.workdir / "chromium-profile"
        self.proc: subprocess.Popen | None = None
        self.port = 0

    def __enter__(self) -> Chromium:
        binary = chromium_binary()
        if binary is None:
            raise FileNotFoundError(f"no Chromium on PATH: {INSTALL}")
        self.profile.mkdir(parents=True, exist_ok=True)
        active = self.profile / "DevToolsActivePort"
        active.unlink(missing_ok=True)  # a previous browser's port
        self.proc = subprocess.Popen(  # noqa: S603 - argv list, no shell
            [binary, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-dev-shm-usage", "--remote-debugging-address=127.0.0.1",
             "--remote-debugging-port=0", f"--user-data-dir={self.profile}",
             "--window-size=1280,1600", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=(self.workdir / "chromium.log").open("wb"))
        self.port = wait_until(lambda: active.exists() and int(active.read_text().split()[0]),
                               timeout=START_TIMEOUT_S, what="Chromium's DevTools port",
                               hint=f"see {self.workdir / 'chromium.log'}")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def look(self, url: str, expression: str, screenshot: Path,
             ready: str | None = None) -> dict:
        """Open `url`, wait for its load event and, if given, for the expression `ready` to be
        true; return `expression`'s value and keep a full-page screenshot."""
        return asyncio.run(self._look(url, expression, Path(screenshot), ready))

    async def _look(self, url: str, expression: str, screenshot: Path, ready: str | None) -> dict:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{self.port}/json/list") as resp:
                target = next(t for t in await resp.json() if t["type"] == "page")
            async with http.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=0) as ws:
                session = _Session(ws)
                await session.call("Page.enable")
                loaded = session.expect("Page.loadEventFired")
                await session.call("Page.navigate", url=url)
                await asyncio.wait_for(loaded, PAGE_TIMEOUT_S)
                if ready is not None:
                    deadline = time.monotonic() + PAGE_TIMEOUT_S
                    while not await session.evaluate(ready):
                        if time.monotonic() > deadline:
                            raise TimeoutError(f"{url}: `{ready}` not true in {PAGE_TIMEOUT_S} s")
                        await asyncio.sleep(0.1)
                value = await session.evaluate(expression)
                shot = await session.call("Page.captureScreenshot", format="png",
                                          captureBeyondViewport=True)
                screenshot.write_bytes(base64.b64decode(shot["data"]))
                return value


class _Session:
    """Requests by id, and events, over one DevTools websocket."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse):
        self.ws = ws
        self.ids = itertools.count(1)
        self.waiting: dict[int, asyncio.Future] = {}
        self.events: dict[str, asyncio.Future] = {}
        self.reader = asyncio.ensure_future(self._read())

    def expect(self, event: str) -> asyncio.Future:
        self.events[event] = asyncio.get_running_loop().create_future()
        return self.events[event]

    async def call(self, method: str, **params: object) -> dict:
        n = next(self.ids)
        reply = self.waiting[n] = asyncio.get_running_loop().create_future()
        try:
            await self.ws.send_str(json.dumps({"id": n, "method": method, "params": params}))
            return await asyncio.wait_for(reply, PAGE_TIMEOUT_S)
        finally:
            del self.waiting[n]

    async def evaluate(self, expression: str) -> object:
        out = await self.call("Runtime.evaluate", expression=expression, returnByValue=True,
                              awaitPromise=True)
        if "exceptionDetails" in out:
            raise RuntimeError(f"the page's script failed: {out['exceptionDetails']}")
        return out["result"].get("value")

    async def _read(self) -> None:
        async for message in self.ws:
            data = json.loads(message.data)
            if "id" in data and data["id"] in self.waiting:
                future = self.waiting[data["id"]]
                if "error" in data:
                    future.set_exception(RuntimeError(f"DevTools: {data['error']}"))
                else:
                    future.set_result(data.get("result", {}))
            elif data.get("method") in self.events and not self.events[data["method"]].done():
                self.events[data["method"]].set_result(data.get("params", {}))
