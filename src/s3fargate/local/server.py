"""The embedded S3 + SQS server: moto in server mode, bound to 127.0.0.1 only."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Self

if TYPE_CHECKING:
    from types import TracebackType

LOOPBACK = "127.0.0.1"


class LocalServer:
    """Owns an in-memory moto server's lifecycle; use it as a context manager.

    Its store lives in memory and is gone when it stops. ``port=0`` picks a free port.
    """

    def __init__(self, *, port: int = 0) -> None:
        from moto.server import ThreadedMotoServer  # local extra only: never in the Lambda

        # Loopback only: the server has no authentication.
        self._server = ThreadedMotoServer(ip_address=LOOPBACK, port=port, verbose=False)
        self._started = False

    def start(self) -> str:
        """Start serving; return the endpoint URL."""
        # Werkzeug logs every request at INFO; the job table is the user's view instead.
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self._server.start()
        self._started = True
        return self.endpoint

    @property
    def endpoint(self) -> str:
        """``http://127.0.0.1:<port>``."""
        host, port = self._server.get_host_and_port()
        return f"http://{host}:{port}"

    def stop(self) -> None:
        """Stop serving (idempotent)."""
        if self._started:
            self._server.stop()
            self._started = False

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
