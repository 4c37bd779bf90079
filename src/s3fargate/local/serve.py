"""The embedded server's own process: moto (S3, SQS, DynamoDB, SNS) on 127.0.0.1 only, off the
pipeline's interpreter, so requests never wait for the dispatchers, the runner and tracker,
or the live view to let go of the GIL.

``python -m s3fargate.local.serve --port N [--hold]`` talks to its parent over its standard
streams, one line each way:

- it binds the public port and prints ``serving URL``; with ``--hold`` it answers only on a
  private port (the same store) and prints ``held PRIVATE_URL PUBLIC_URL``, and starts
  answering on the public port (closing the private one) when it reads ``open``, which it
  acknowledges with ``open``;
- a port it cannot bind: ``error MESSAGE``, exit 1;
- end of its standard input (its parent stopped, or died): it stops.
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Sequence

LOOPBACK = "127.0.0.1"


def _serve(server: Any, name: str) -> None:
    threading.Thread(target=server.serve_forever, name=name, daemon=True).start()


def _url(server: Any) -> str:
    host, port = server.server_address[:2]
    return f"http://{host}:{port}"


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until standard input ends."""
    parser = argparse.ArgumentParser(prog="python -m s3fargate.local.serve")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--hold", action="store_true")
    args = parser.parse_args(argv)

    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    # Werkzeug logs every request at INFO; the job table is the user's view instead.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    app = DomainDispatcherApplication(create_backend_app)

    def bind(port: int) -> Any:
        # Loopback only: the server has no authentication.
        return make_server(LOOPBACK, port, app, threaded=True, request_handler=MotoRequestHandler)

    try:
        public = bind(args.port)
    except (OSError, SystemExit):  # werkzeug exits when the port is taken
        print(f"error cannot listen on {LOOPBACK}:{args.port}: the port is in use", flush=True)
        return 1
    private = None
    if args.hold:
        private = bind(0)
        _serve(private, "moto-private")
        print(f"held {_url(private)} {_url(public)}", flush=True)
    else:
        _serve(public, "moto-server")
        print(f"serving {_url(public)}", flush=True)
    for line in sys.stdin:
        if line.strip() == "open" and private is not None:
            _serve(public, "moto-server")
            private.shutdown()
            private.server_close()
            private = None
            print("open", flush=True)
    # The parent is gone or stopping: the process ends, and its serving threads with it.
    return 0


if __name__ == "__main__":
    sys.exit(main())
