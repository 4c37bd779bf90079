"""The embedded AWS stand-in: moto in server mode (S3, SQS, DynamoDB, SNS), on 127.0.0.1 only."""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any, Self

if TYPE_CHECKING:
    from types import TracebackType

LOOPBACK = "127.0.0.1"


class ServerStartError(OSError):
    """The server could not listen (the port is taken, or not ours to use)."""


class LocalServer:
    """Owns an in-memory moto server's lifecycle; use it as a context manager.

    Its store lives in memory and is gone when it stops. ``port=0`` picks a free port. The
    socket is bound before :meth:`start` returns, so a busy port is an error at once (moto's
    own threaded server would wait forever for a thread that failed to bind).

    ``start(hold=True)`` binds the public port without answering on it and serves a private
    port instead (the same in-process store): the pipeline wires its bucket there, then
    :meth:`open` answers on the public port. A client that connects early waits; it never sees
    a bucket whose uploads would trigger nothing.
    """

    def __init__(self, *, port: int = 0) -> None:
        self._port = port
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._private: Any = None

    def start(self, *, hold: bool = False) -> str:
        """Bind, and serve (or, with ``hold``, serve only a private port); return the URL to
        use now (the private one while held).

        Raises:
            ServerStartError: the port could not be bound.
        """
        # Local extra only: never in the Lambda.
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server

        # Werkzeug logs every request at INFO; the job table is the user's view instead.
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        app = DomainDispatcherApplication(create_backend_app)
        try:
            # Loopback only: the server has no authentication.
            self._server = make_server(
                LOOPBACK, self._port, app, threaded=True, request_handler=MotoRequestHandler
            )
        except (OSError, SystemExit) as exc:  # werkzeug exits when the port is taken
            raise ServerStartError(
                f"cannot listen on {LOOPBACK}:{self._port}: the port is in use"
            ) from exc
        if not hold:
            self.open()
            return self.endpoint
        self._private = make_server(
            LOOPBACK, 0, app, threaded=True, request_handler=MotoRequestHandler
        )
        threading.Thread(
            target=self._private.serve_forever, name="moto-private", daemon=True
        ).start()
        host, port = self._private.server_address[:2]
        return f"http://{host}:{port}"

    def open(self) -> None:
        """Answer on the public port (after a held start: and close the private one)."""
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="moto-server", daemon=True
        )
        self._thread.start()
        if self._private is not None:
            self._private.shutdown()
            self._private.server_close()
            self._private = None

    @property
    def endpoint(self) -> str:
        """``http://127.0.0.1:<port>``."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def stop(self) -> None:
        """Stop serving (idempotent)."""
        if self._private is not None:
            self._private.shutdown()
            self._private.server_close()
            self._private = None
        if self._server is not None and self._thread is None:
            self._server.server_close()  # bound but never served: nothing to shut down
            self._server = None
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
