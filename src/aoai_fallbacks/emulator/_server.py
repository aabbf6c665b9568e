"""Serve ASGI apps from one background thread: one event loop, one uvicorn server per port.

It runs every resource of an emulator, and the proxy in front of them in the
tests and benchmarks. Tests start many, so starting and stopping must be cheap: the ports
are bound up front (port 0 lets the kernel pick free ones, so there is no race
to find them), the servers start in a thread that is ready as soon as every
one of them listens, and stopping releases hanging requests at once instead of
waiting out uvicorn's graceful shutdown.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable, Sequence
from contextlib import suppress
from typing import Any

import uvicorn

HOST = "127.0.0.1"
_START_TIMEOUT = 10.0
_STOP_TIMEOUT = 5.0


def bind(port: int) -> socket.socket:
    """A listening loopback socket on `port` (0: any free port).

    The protocol is named explicitly: asyncio sets TCP_NODELAY on accepted
    connections only when the listening socket says it is TCP, and without it
    Nagle's algorithm meets delayed ACKs and adds about 40 ms to every answer.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((HOST, port))
    except OSError:
        sock.close()
        raise
    sock.listen(128)
    sock.setblocking(False)
    return sock


class ServerThread:
    """Runs one server per app on one loop in a daemon thread, from `start()` to `stop()`.

    `on_stop` runs on that loop when stopping begins: the emulator releases
    its hanging requests there, so none waits out the graceful shutdown.
    """

    def __init__(
        self,
        apps: Sequence[Any],
        sockets: Sequence[socket.socket],
        *,
        on_stop: Callable[[], None] | None = None,
    ) -> None:
        self._on_stop = on_stop
        self._sockets = list(sockets)
        self._servers = [
            uvicorn.Server(
                uvicorn.Config(
                    app,
                    lifespan="off",
                    log_config=None,
                    log_level="warning",
                    access_log=False,
                    timeout_graceful_shutdown=1,
                )
            )
            for app in apps
        ]
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="aoai-servers", daemon=True)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as failure:  # surfaced to the starting thread
            self._failure = failure
        finally:
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        tasks = [
            asyncio.create_task(server.serve(sockets=[sock]))
            for server, sock in zip(self._servers, self._sockets, strict=True)
        ]
        while not all(server.started for server in self._servers):
            done = [task for task in tasks if task.done()]
            if done:
                done[0].result()  # a server that stopped before starting: raise why
                raise RuntimeError("a server exited before it started")
            await asyncio.sleep(0.001)
        self._ready.set()
        await asyncio.gather(*tasks)

    def start(self) -> None:
        self._thread.start()
        if not self._ready.wait(_START_TIMEOUT):
            raise RuntimeError("the servers did not start in time")
        if self._failure is not None:
            raise RuntimeError("the servers failed to start") from self._failure

    def stop(self) -> None:
        loop = self._loop
        if loop is not None and self._on_stop is not None:
            with suppress(RuntimeError):  # the loop already ended: nothing hangs
                loop.call_soon_threadsafe(self._on_stop)
        for server in self._servers:
            server.should_exit = True
        self._thread.join(_STOP_TIMEOUT)
        for sock in self._sockets:
            sock.close()
