"""A TCP proxy between the ledger and PostgreSQL that injects faults at protocol boundaries.

It parses the v3 protocol's framing (a type byte and a four-byte length; the client's first
messages have no type byte) so a test can cut a connection exactly around a COMMIT: before
the COMMIT reaches the server, or after the server committed but before its reply arrives,
which is the ambiguous outcome a retry must resolve; or reset both sides (TCP RST) right after
a write reached the server, mid-query. Replies can be delayed. The upstream may be TCP or a
unix socket (the embedded server)."""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from pathlib import Path
from types import TracebackType

from psycopg.conninfo import conninfo_to_dict, make_conninfo

_UNTYPED_REQUESTS = {80877103, 80877104}  # SSLRequest, GSSENCRequest: one-byte answers


class FaultProxy:
    """Forwards 127.0.0.1:<port> to the server of `database_url`; faults fire once each."""

    def __init__(self, database_url: str) -> None:
        params = conninfo_to_dict(database_url)
        host, port = str(params.get("host") or "127.0.0.1"), int(params.get("port") or 5432)
        self._upstream: str | tuple[str, int] = (
            str(Path(host) / f".s.PGSQL.{port}") if host.startswith("/") else (host, port)
        )
        self._database_url = database_url
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self.cut_after_commit = False
        self.cut_before_commit = False
        self.reset_mid_query = False
        self.delay_seconds = 0.0
        self.cuts = 0
        self._lock = threading.Lock()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        """The database URL (as a conninfo string) through the proxy."""
        return make_conninfo(self._database_url, host="127.0.0.1", port=str(self.port))

    def close(self) -> None:
        self._closed = True
        self._listener.close()

    def reset_all(self) -> None:
        """Resets (TCP RST) every connection made through the proxy so far, as a dropped
        network path would; new connections go through."""
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for pair in pairs:
            _reset(pair)

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            family = socket.AF_UNIX if isinstance(self._upstream, str) else socket.AF_INET
            server = socket.socket(family, socket.SOCK_STREAM)
            server.connect(self._upstream)
            pair = (client, server)
            with self._lock:
                self._pairs.append(pair)
            answers: list[int] = []  # one-byte answers the server owes (SSL/GSS requests)
            for args in (
                (client, server, pair, answers, True),
                (server, client, pair, answers, False),
            ):
                threading.Thread(target=self._pump, args=args, daemon=True).start()

    def _fire(self, flag: str) -> bool:
        """True once per arming of `flag`: that message is dropped and the connection cut."""
        with self._lock:
            if getattr(self, flag):
                setattr(self, flag, False)
                self.cuts += 1
                return True
            return False

    def _cuts_at(self, message: bytes, up: bool) -> bool:
        """Whether an armed fault cuts the connection at this message (dropping it): a COMMIT
        on its way to the server, or the server's CommandComplete reply to one."""
        if up and message[:1] in (b"Q", b"P") and b"COMMIT" in message.upper():
            return self._fire("cut_before_commit")
        if not up and message[:1] == b"C" and message[5:12] == b"COMMIT\0":
            return self._fire("cut_after_commit")
        return False

    def _resets_at(self, message: bytes, up: bool) -> bool:
        """Whether an armed reset fires after this message: a write on its way to the server."""
        return (
            up
            and message[:1] in (b"Q", b"P")
            and b"INSERT" in message.upper()
            and (self._fire("reset_mid_query"))
        )

    def _pump(
        self,
        src: socket.socket,
        dst: socket.socket,
        pair: tuple[socket.socket, ...],
        answers: list[int],
        up: bool,
    ) -> None:
        buf = b""
        untyped = 1 if up else 0  # the startup message (and any SSL request) has no type byte
        try:
            while chunk := src.recv(65536):
                buf += chunk
                out = b""
                while True:
                    if not up and answers and buf:
                        answers.pop()
                        out, buf = out + buf[:1], buf[1:]
                        continue
                    head = 0 if untyped else 1
                    if len(buf) < head + 4:
                        break
                    size = head + struct.unpack("!I", buf[head : head + 4])[0]
                    if len(buf) < size:
                        break
                    message, buf = buf[:size], buf[size:]
                    if untyped:
                        code = struct.unpack("!I", message[4:8])[0]
                        untyped = 1 if code in _UNTYPED_REQUESTS else 0
                        if untyped:
                            answers.append(code)
                    elif self._cuts_at(message, up):
                        dst.sendall(out)  # what came before the cut still arrives
                        raise ConnectionAbortedError
                    elif self._resets_at(message, up):
                        dst.sendall(out + message)  # the server gets the write, then an RST
                        _reset(pair)
                        raise ConnectionResetError
                    out += message
                if out:
                    if self.delay_seconds:
                        time.sleep(self.delay_seconds)
                    dst.sendall(out)
        except OSError:
            pass
        finally:
            for sock in pair:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()


def _reset(pair: tuple[socket.socket, ...]) -> None:
    """Closes both sockets with an RST instead of a FIN, as a dropped network path does."""
    for sock in pair:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            # Wakes the other direction's pump from its recv (it holds the socket open until
            # then); once both let go, the close sends the RST.
            sock.shutdown(socket.SHUT_RD)
        sock.close()
