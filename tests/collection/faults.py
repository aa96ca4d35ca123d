"""A fault-injecting endpoint on 127.0.0.1: in front of moto server, it answers chosen operations badly.

Every request is forwarded to moto server unless a fault is set for its operation; then the fault's
answer is sent instead (an HTML page, a truncated body, an AWS error, a 5xx, or a slow answer). The
operation is read from the request the way AWS reads it: ``X-Amz-Target`` (JSON protocols), the
``/operation/NAME`` path (CBOR), or the ``Action`` form field (query and EC2 protocols).
"""

from __future__ import annotations

import http.client
import json
import threading
import urllib.parse
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# Service (botocore name) -> how its errors are written.
_QUERY_SERVICES = {"iam", "sts"}
_EC2 = "ec2"


@dataclass(frozen=True)
class Fault:
    """One bad answer: an HTTP status and a body, sent after ``delay`` seconds (bounded by the server's life)."""

    status: int
    body: bytes
    content_type: str = "text/html"
    delay: float = 0.0


HTML_PAGE = Fault(200, b"<!DOCTYPE html>\n<html><head><title>Sign in</title></head><body>Proxy</body></html>\n")
XHTML_PAGE = Fault(200, b"<html><body><p>Service temporarily unavailable</p></body></html>")
SERVER_ERROR = Fault(500, b"<html><body>500 Internal Server Error</body></html>")
UNAVAILABLE = Fault(503, b"")


def truncated(service: str) -> Fault:
    """A 200 whose body stops half-way (Content-Length matching what is sent)."""
    if service in _QUERY_SERVICES or service == _EC2:
        return Fault(200, b'<?xml version="1.0" encoding="UTF-8"?>\n<GetRoleResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><GetRoleResult><Role><Path>/</Pa', "text/xml")
    return Fault(200, b'{"logGroups": [{"logGroupName": "/vpc/flow-logs/prod", "creationTi', "application/x-amz-json-1.1")


def aws_error(service: str, code: str, message: str, status: int = 400) -> Fault:
    """An AWS error answer, written as ``service``'s protocol writes it."""
    if service == _EC2:
        body = (
            f"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{code}</Code>"
            f"<Message>{message}</Message></Error></Errors><RequestID>f0c1-fault</RequestID></Response>"
        )
        return Fault(status, body.encode(), "text/xml")
    if service in _QUERY_SERVICES:
        body = (
            f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message>"
            "</Error><RequestId>f0c1-fault</RequestId></ErrorResponse>"
        )
        return Fault(status, body.encode(), "text/xml")
    return Fault(status, json.dumps({"__type": code, "message": message}).encode(), "application/x-amz-json-1.1")


class FaultyEndpoint:
    """The endpoint: :attr:`url` for boto3, :attr:`faults` by operation, :attr:`seen` counts requests.

    Parameters
    ----------
    upstream : str
        moto server's URL.
    """

    def __init__(self, upstream: str) -> None:
        self.upstream = urllib.parse.urlsplit(upstream)
        self.faults: dict[str, Fault] = {}
        self.fail_after: tuple[str, Fault] | None = None  # from this operation on, every answer is the fault
        self.seen: Counter[str] = Counter()
        self.injected = 0  # faulty answers served (the README's reliability figures)
        self.stopping = threading.Event()
        self._failing = False
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: object) -> None:
                pass

            def do_POST(self) -> None:
                endpoint._handle(self)

            do_GET = do_POST

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    @staticmethod
    def operation(handler: BaseHTTPRequestHandler, body: bytes) -> str:
        """The operation a request asks for, as AWS reads it."""
        target = handler.headers.get("X-Amz-Target")
        if target:
            return target.rsplit(".", 1)[-1]
        if "/operation/" in handler.path:
            return handler.path.rsplit("/operation/", 1)[-1]
        form = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
        return (form.get("Action") or [""])[0]

    def _fault_for(self, operation: str) -> Fault | None:
        if self.fail_after and operation == self.fail_after[0]:
            self._failing = True
        if self._failing and self.fail_after:
            return self.fail_after[1]
        return self.faults.get(operation)

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        body = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        operation = self.operation(handler, body)
        self.seen[operation] += 1
        fault = self._fault_for(operation)
        if fault is not None:
            self.injected += 1
            if fault.delay and self.stopping.wait(fault.delay):
                return  # the test is over: drop the connection
            self._send(handler, fault.status, fault.body, fault.content_type)
            return
        connection = http.client.HTTPConnection(self.upstream.hostname, self.upstream.port, timeout=30)
        try:
            headers = {k: v for k, v in handler.headers.items() if k.lower() != "connection"}
            connection.request(handler.command, handler.path, body, headers)
            answer = connection.getresponse()
            data = answer.read()
            content_type = answer.getheader("Content-Type", "application/octet-stream")
            self._send(handler, answer.status, data, content_type)
        finally:
            connection.close()

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, status: int, body: bytes, content_type: str) -> None:
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", content_type)
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body)
        except OSError:
            pass  # the client gave up (timeout, interrupt): nothing to answer

    def start(self) -> None:
        """Serve in a daemon thread."""
        threading.Thread(target=self.server.serve_forever, daemon=True, name="faulty-endpoint").start()

    def stop(self) -> None:
        """Stop serving and release every slow answer."""
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def faulty_endpoint(upstream: str) -> Iterator[FaultyEndpoint]:
    """A started :class:`FaultyEndpoint` in front of ``upstream``, stopped on exit."""
    endpoint = FaultyEndpoint(upstream)
    endpoint.start()
    try:
        yield endpoint
    finally:
        endpoint.stop()
