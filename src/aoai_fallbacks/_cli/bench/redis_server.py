"""A real `redis-server` of our own on a free loopback port, for the bench and the tests.

The shared throttle state (`RedisStore`) is measured and tested against the
real server, never a fake: what matters is how the balancers behave when the
store answers late, or dies and comes back, and only the real one does that.
Each `RedisServer` runs its own process with nothing saved to disk, in a
temporary directory of its own, bound to 127.0.0.1. `stop()` kills it the way
a crash does (SIGKILL: no shutdown, no goodbye to clients) and `start()` brings
it back on the same port, empty, as a restarted server without persistence
comes back. It needs nothing but the `redis-server` executable (Debian:
``apt-get install redis-server``): readiness and `flush()` speak the few bytes
of the protocol they need over a plain socket, so no client library is needed.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
import weakref
from pathlib import Path
from types import TracebackType

__all__ = ["RedisServer", "free_port"]

READY_WITHIN = 10.0
"""Seconds a fresh server may take to answer its first PING."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on at the time of asking."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class RedisServer:
    """One `redis-server` process on 127.0.0.1, started, crashed and restarted on demand.

    Use it as a context manager, or call `close()`: either way the process is
    killed and its directory removed; if neither happens (an interrupted run),
    the process is still killed when the interpreter exits.
    """

    def __init__(self, executable: str | None = None, *, port: int | None = None) -> None:
        found = executable or shutil.which("redis-server")
        if found is None:
            raise FileNotFoundError(
                "redis-server is not installed (Debian: apt-get install redis-server)"
            )
        self.executable = found
        self.port = free_port() if port is None else port
        self._dir = tempfile.TemporaryDirectory(prefix="aoai-fallbacks-redis-")
        self._process: subprocess.Popen[bytes] | None = None
        self._killer: weakref.finalize[[subprocess.Popen[bytes]], RedisServer] | None = None

    @staticmethod
    def installed() -> bool:
        """Whether a `redis-server` executable is on PATH."""
        return shutil.which("redis-server") is not None

    @property
    def url(self) -> str:
        """The server's address for a client: ``redis://127.0.0.1:PORT/0``."""
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> RedisServer:
        """Start the server (again, on the same port, empty) and return once it answers.

        RuntimeError, with the server's own last words, if it does not come up.
        """
        if self.running:
            raise RuntimeError(f"redis-server is already running on port {self.port}")
        log = Path(self._dir.name) / "redis.log"
        with log.open("ab") as output:
            self._process = subprocess.Popen(
                [
                    self.executable,
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--daemonize",
                    "no",
                    "--dir",
                    self._dir.name,
                ],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        self._killer = weakref.finalize(self, _kill, self._process)
        deadline = time.monotonic() + READY_WITHIN
        while not self._ours():
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                tail = log.read_text(errors="replace").splitlines()[-5:]
                raise RuntimeError(
                    f"redis-server did not start on port {self.port}: " + " / ".join(tail)
                )
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Kill the server at once, as a crash would (SIGKILL); nothing if it is not running."""
        if self._killer is not None:
            self._killer()
        self._process = self._killer = None

    def flush(self) -> None:
        """Empty every database of the running server."""
        if self._ask(b"FLUSHALL") != b"+OK\r\n":
            raise RuntimeError(f"redis-server on port {self.port} did not flush")

    def close(self) -> None:
        """Stop the server and remove its directory."""
        self.stop()
        self._dir.cleanup()

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"RedisServer({self.url!r}, {state})"

    def _ours(self) -> bool:
        """Whether our process answers on the port: another server already listening there
        would answer too, so its process id must be ours."""
        pid = self._process.pid if self._process is not None else None
        return f"process_id:{pid}\r\n".encode() in self._ask(b"INFO server")

    def _ask(self, command: bytes) -> bytes:
        """The server's whole reply to the inline `command`; empty if nothing answers."""
        reply = b""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1.0) as connection:
                connection.sendall(command + b"\r\n")
                while not _complete(reply):
                    piece = connection.recv(4096)
                    if not piece:
                        break
                    reply += piece
        except OSError:
            return b""
        return reply


def _complete(reply: bytes) -> bool:
    """Whether `reply` holds a whole RESP reply: one line, or a bulk string's header and body."""
    header, found, body = reply.partition(b"\r\n")
    if not found:
        return False
    if not header.startswith(b"$"):
        return True
    return len(body) >= max(int(header[1:]), 0) + 2


def _kill(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        process.kill()
    process.wait()
