"""A loopback TCP proxy a test can cut and restore, to see how Forebear behaves when a real
Neo4j or S3 server stops answering, without stopping the servers the rest of the suite uses."""

from __future__ import annotations

import contextlib
import socket
import threading
from types import TracebackType


class TcpProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self._listener: socket.socket | None = None
        self._conns: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._flowing = threading.Event()
        self._flowing.set()
        self.requests: list[bytes] = []  # the first chunk of every request (its head)
        self.carried = 0  # bytes carried back to clients
        self._cut: tuple[int, bytes, int] | None = None

    def __enter__(self) -> TcpProxy:
        self.start()
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Listen (again) on 127.0.0.1:self.port, a free port the first time."""
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def stop(self) -> None:
        """Stop listening and cut every open connection, as a crashed server would."""
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        with self._lock:
            conns, self._conns = self._conns, set()
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()

    def freeze(self) -> None:
        """Hold whatever is sent either way from now on, every connection left open: a server
        that froze (SIGSTOP, a stalled disk) or a network that stopped carrying packets."""
        self._flowing.clear()

    def thaw(self) -> None:
        """Carry what was held, and everything after it."""
        self._flowing.set()

    def cut(self, after: int, starting: bytes, times: int = 1) -> None:
        """Cut the next `times` connections whose request starts with `starting` once `after`
        bytes of the answer went back: a download dropped midway."""
        self._cut = (after, starting, times)

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._conns.update((client, upstream))
            conn = _Connection()
            threading.Thread(target=self._pump, args=(client, upstream, conn), daemon=True).start()
            back = threading.Thread(target=self._pump_back, args=(upstream, client, conn))
            back.daemon = True
            back.start()

    def _pump(self, src: socket.socket, dst: socket.socket, conn: _Connection) -> None:
        """Client to server, noting each request's head (a chunk starting with a method)."""
        try:
            with contextlib.suppress(OSError):
                while data := src.recv(65536):
                    if data.split(b" ", 1)[0] in METHODS:
                        self._noted(data, conn)
                    self._flowing.wait()
                    dst.sendall(data)
        finally:
            _hang_up(src, dst)

    def _noted(self, request: bytes, conn: _Connection) -> None:
        with self._lock:
            self.requests.append(request)
            cut = self._cut
            if cut is not None and cut[2] > 0 and request.startswith(cut[1]):
                self._cut = (cut[0], cut[1], cut[2] - 1)
                conn.left = cut[0]  # its answer is cut after this many bytes

    def _pump_back(self, src: socket.socket, dst: socket.socket, conn: _Connection) -> None:
        """Server to client, cutting the connection where a `cut` says."""
        try:
            with contextlib.suppress(OSError):
                while data := src.recv(65536):
                    left = conn.left
                    if left is not None:
                        data = data[:left]
                        conn.left = left - len(data)
                    self._flowing.wait()
                    dst.sendall(data)
                    with self._lock:
                        self.carried += len(data)
                    if conn.left == 0:
                        return
        finally:
            _hang_up(src, dst)


def _hang_up(*socks: socket.socket) -> None:
    for sock in socks:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


METHODS = {b"GET", b"HEAD", b"POST", b"PUT", b"PATCH", b"DELETE", b"OPTIONS"}


class _Connection:
    """A proxied connection: how many bytes of the answer it carries now may still go back
    before it is cut (None: no cut)."""

    def __init__(self) -> None:
        self.left: int | None = None
