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
- ``iam PATH`` (an :class:`s3fargate.iam.Authority` saved at PATH): from then on, each request
  signed by one of its components' keys is authorised against that component's role, as IAM
  does (``iam off``: no more); acknowledged with ``iam ok``;
- end of its standard input (its parent stopped, or died): it stops.
"""

from __future__ import annotations

import argparse
import functools
import logging
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Sequence

LOOPBACK = "127.0.0.1"


def _item_level_transactions() -> None:
    """Make moto's TransactWriteItems cost what the transaction touches, not the table.

    moto (5.x) deep-copies every table a transaction names, once per item, to roll back a
    cancelled transaction: a ledger of a few thousand jobs then costs tens of milliseconds per
    launch, and the copy put back also undoes other requests' writes made meanwhile. Here the
    table copy is skipped and only the items the transaction names are saved and put back on
    failure: the same answers, in time proportional to the transaction. Writes are also made
    one at a time (moto's threaded server has no lock of its own), so a transaction, its
    conditions and its rollback are atomic against other writes, as DynamoDB's are. A moto
    whose transactions are built otherwise is left as it is (correct, only slower).
    """
    import copy

    from moto.dynamodb import models
    from moto.dynamodb.models.table import Table

    backend = models.DynamoDBBackend
    original = backend.transact_write_items
    if getattr(models, "copy", None) is not copy or getattr(original, "item_level", False):
        return

    class _CopyButTables:
        """moto's ``copy`` module, whose ``deepcopy`` leaves tables alone."""

        def __getattr__(self, name: str) -> Any:
            return getattr(copy, name)

        @staticmethod
        def deepcopy(value: Any, memo: Any = None) -> Any:
            return value if isinstance(value, Table) else copy.deepcopy(value, memo)

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        saved = []
        for entry in transact_items:
            _, op = next(iter(entry.items()))
            table = self.tables.get(op.get("TableName")) if isinstance(op, dict) else None
            if table is None:
                continue
            try:
                key = op.get("Key") or {
                    name: op["Item"][name]
                    for name in (table.hash_key_attr, table.range_key_attr)
                    if name is not None
                }
                hash_value, range_value = self.get_keys_value(table, key)
            except Exception:  # noqa: S112 -- a malformed entry is moto's to refuse
                continue
            current = table.get_item(hash_value, range_value)
            saved.append((table, hash_value, range_value, copy.deepcopy(current)))
        try:
            original(self, transact_items)
        except BaseException:
            for table, hash_value, range_value, item in reversed(saved):
                if item is None:
                    table.delete_item(hash_value, range_value)
                elif range_value is not None:
                    table.items[hash_value][range_value] = item
                else:
                    table.items[hash_value] = item
            raise

    writing = threading.RLock()

    def one_at_a_time(method: Any) -> Any:
        @functools.wraps(method)
        def call(self: Any, *args: Any, **kwargs: Any) -> Any:
            with writing:
                return method(self, *args, **kwargs)

        return call

    setattr(models, "copy", _CopyButTables())  # noqa: B010 -- moto does not export it
    for name in ("put_item", "update_item", "delete_item", "batch_write_item"):
        if hasattr(backend, name):
            setattr(backend, name, one_at_a_time(getattr(backend, name)))
    backend.transact_write_items = one_at_a_time(transact_write_items)  # type: ignore[method-assign]
    backend.transact_write_items.item_level = True  # type: ignore[attr-defined]


def _keys_may_hold_newlines() -> None:
    """Let object keys hold line breaks, as S3's do: moto routes requests with regular
    expressions in which ``.`` stops at a newline, so ``PUT /bucket/a%0Ab`` found no route
    (404). Each route's pattern now lets ``.`` match it."""
    from moto.moto_server import utilities

    plain = utilities.RegexConverter.__init__

    def everything(self: Any, url_map: Any, *items: Any) -> None:
        plain(self, url_map, *items)
        self.regex = f"(?s:{self.regex})"

    utilities.RegexConverter.__init__ = everything  # type: ignore[method-assign]


def _notifications_as_s3_sends_them() -> None:
    """Make moto's S3 event notifications the ones S3 sends.

    - A multipart upload is one object, announced once (``ObjectCreated:CompleteMultipartUpload``);
      moto stored it through its PutObject path, which announced an ``ObjectCreated:Put`` of
      its own first, so ``aws s3 cp`` of a file over 8 MB made two jobs.
    - Each record carries a ``sequencer`` (hex, growing with every event; S3 orders the events
      of one key by it) and, in a versioned bucket, the object's ``versionId``.
    """
    from moto.s3 import models, notifications

    backend = models.S3Backend
    local = threading.local()
    put_object = backend.put_object
    complete = backend.complete_multipart_upload

    def put_once(self: Any, *args: Any, **kwargs: Any) -> Any:
        if getattr(local, "completing", False):
            kwargs["disable_notification"] = True
        return put_object(self, *args, **kwargs)

    def complete_once(self: Any, *args: Any, **kwargs: Any) -> Any:
        local.completing = True
        try:
            return complete(self, *args, **kwargs)
        finally:
            local.completing = False

    backend.put_object = put_once  # type: ignore[method-assign]
    backend.complete_multipart_upload = complete_once  # type: ignore[method-assign]

    event = notifications._get_s3_event
    lock = threading.Lock()
    last = [0]

    def sequenced(event_name: str, bucket: Any, key: Any, notification_id: str) -> Any:
        body = event(event_name, bucket, key, notification_id)
        with lock:
            last[0] = max(time.time_ns(), last[0] + 1)
            sequencer = f"{last[0]:018X}"
        for record in body["Records"]:
            record["s3"]["object"]["sequencer"] = sequencer
            version = getattr(key, "version_id", None)
            if version and version != "null":
                record["s3"]["object"]["versionId"] = version
        return body

    notifications._get_s3_event = sequenced


class IamGate:
    """A WSGI middleware that authorises each request signed by a pipeline component's key
    against the component's role, before moto sees it (see :mod:`s3fargate.iam`): a refused
    request gets the service's own AccessDenied answer. It also answers a component's read of
    a missing key 403, not 404, unless it may ``s3:ListBucket`` (as S3 does)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.authority: Any = None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        from s3fargate.iam import actions, http

        authority = self.authority
        key, _service = http.signer(environ)
        identity = authority.identity(key) if authority is not None else None
        if identity is None:
            return self.app(environ, start_response)
        call = http.api_call(environ)
        head = environ.get("REQUEST_METHOD") == "HEAD"
        if call is None:
            return self.app(environ, start_response)
        try:
            needs = actions.needs(call.service, call.operation, call.params, authority.world)
        except actions.UnmodeledOperationError as exc:
            return self._refuse(start_response, call, str(exc), head=head)
        denial = authority.check(identity, needs)
        if denial is not None:
            return self._refuse(start_response, call, denial.message, head=head)
        if call.service == "s3" and call.operation in ("GetObject", "HeadObject"):
            return self._missing_as_forbidden(environ, start_response, call, identity)
        return self.app(environ, start_response)

    def _missing_as_forbidden(
        self, environ: dict[str, Any], start_response: Any, call: Any, identity: Any
    ) -> Any:
        """S3 tells a caller without ``s3:ListBucket`` that a missing key is forbidden (403),
        not missing (404)."""
        from s3fargate.iam import actions

        answered: list[Any] = []

        def capture(status: str, headers: Any, exc_info: Any = None) -> Any:
            answered[:] = [status, headers, exc_info]
            return lambda _data: None

        body = self.app(environ, capture)
        if answered and str(answered[0]).startswith("404"):
            need = actions.list_bucket_need(call.params["Bucket"], self.authority.world)
            if self.authority.decide(identity, need).name != "ALLOWED":
                if hasattr(body, "close"):
                    body.close()
                head = environ.get("REQUEST_METHOD") == "HEAD"
                return self._refuse(start_response, call, "Access Denied", head=head)
        start_response(*answered)
        return body

    @staticmethod
    def _refuse(start_response: Any, call: Any, message: str, *, head: bool) -> list[bytes]:
        from s3fargate.iam import http

        status, headers, body = http.access_denied(call, message, head=head)
        start_response(status, [*headers, ("Content-Length", str(len(body)))])
        return [b"" if head else body]


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

    _item_level_transactions()
    _keys_may_hold_newlines()
    _notifications_as_s3_sends_them()
    # Werkzeug logs every request at INFO; the job table is the user's view instead.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    gate = IamGate(DomainDispatcherApplication(create_backend_app))
    app = gate

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
        command, _, argument = line.strip().partition(" ")
        if command == "open" and private is not None:
            _serve(public, "moto-server")
            private.shutdown()
            private.server_close()
            private = None
            print("open", flush=True)
        elif command == "iam":
            from s3fargate.iam import Authority

            gate.authority = None if argument == "off" else Authority.load(Path(argument))
            print("iam ok", flush=True)
    # The parent is gone or stopping: the process ends, and its serving threads with it.
    return 0


if __name__ == "__main__":
    sys.exit(main())
