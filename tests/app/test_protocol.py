"""The HTTP edge: JSON 400s from the parser, header and body timeouts, HTTP/1.0 never chunked."""

from __future__ import annotations

import contextlib
import json
import select
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from tests.conftest import Server, start_server


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_server(
        tmp_path_factory.mktemp("protocol"),
        header_timeout=1,
        body_timeout=1,
        task_modules="",
        access_log="false",
    )
    yield server
    server.terminate()


def exchange(server: Server, payload: bytes, wait: float = 10) -> tuple[bytes, float, bool]:
    """Send ``payload`` on a raw connection; read until the server closes it.

    Returns what came back, how long until the close, and whether it did close."""
    address = urlsplit(server.url)
    with socket.create_connection((address.hostname, address.port)) as sock:
        sock.settimeout(wait)
        started = time.monotonic()
        if payload:
            sock.sendall(payload)
        data = b""
        try:
            while chunk := sock.recv(65536):
                data += chunk
        except TimeoutError:
            return data, time.monotonic() - started, False
        return data, time.monotonic() - started, True


def split(response: bytes) -> tuple[str, dict[str, str], bytes]:
    head, _, body = response.partition(b"\r\n\r\n")
    status, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, body


@pytest.mark.parametrize("length", [b"abc", b"-1", b"1, 2", b"99999999999999999999999"])
def test_a_bad_content_length_gets_a_json_400(live: Server, length: bytes) -> None:
    request = b"POST /work/noop HTTP/1.1\r\nHost: x\r\nContent-Length: " + length + b"\r\n\r\n"
    data, _, closed = exchange(live, request)
    status, headers, body = split(data)
    assert status.startswith("HTTP/1.1 400"), data
    assert headers["content-type"] == "application/json"
    assert json.loads(body)["error"] == "bad_request"
    assert closed


def test_a_malformed_request_line_gets_a_json_400(live: Server) -> None:
    status, _, body = split(exchange(live, b"GET / HTTP/9\r\n\r\n")[0])
    assert status.startswith("HTTP/1.1 400")
    assert json.loads(body)["error"] == "bad_request"


def test_headers_that_never_finish_are_cut_off(live: Server) -> None:
    data, after, closed = exchange(live, b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    assert closed and data == b""
    assert after < 5  # header timeout 1 s


def test_headers_larger_than_64_kib_get_a_json_431(live: Server) -> None:
    address = urlsplit(live.url)
    with socket.create_connection((address.hostname, address.port)) as sock:
        sock.settimeout(10)
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ")
        data = b""
        for _ in range(40):  # 80 KiB in 2 KiB pieces, never finishing the header
            if select.select([sock], [], [], 0.01)[0]:
                break  # the answer is there: stop sending before the server's close
            sock.sendall(b"a" * 2048)
        with contextlib.suppress(OSError):
            while chunk := sock.recv(65536):
                data += chunk
    status, headers, body = split(data)
    assert status.startswith("HTTP/1.1 431"), data[:200]
    assert headers["content-type"] == "application/json"
    assert json.loads(body)["error"] == "headers_too_large"


def test_a_connection_that_sends_nothing_is_closed(live: Server) -> None:
    data, after, closed = exchange(live, b"")
    assert closed and data == b""
    assert after < 5


def test_a_stalled_body_gets_408_and_the_connection_closes(live: Server) -> None:
    request = (
        b"POST /work/noop HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b'Content-Length: 100\r\n\r\n{"a'
    )
    data, after, closed = exchange(live, request)
    status, headers, body = split(data)
    assert status.startswith("HTTP/1.1 408"), data
    assert json.loads(body)["error"] == "request_timeout"
    assert headers["connection"] == "close"
    assert closed and after < 5


def test_a_body_nobody_reads_does_not_hold_the_connection(live: Server) -> None:
    # /healthz answers without reading the body; the rest of it never comes.
    request = b"POST /work/noop HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"
    data, after, closed = exchange(live, request.replace(b"POST /work/noop", b"GET /healthz"))
    status, _, body = split(data)
    assert status.endswith("200 OK") and json.loads(body) == {"status": "ok"}
    assert closed and after < 6  # body timeout 1 s (+1 s grace)


def test_a_request_sent_in_pieces_within_the_timeouts_is_served(live: Server) -> None:
    address = urlsplit(live.url)
    with socket.create_connection((address.hostname, address.port)) as sock:
        sock.settimeout(10)
        for piece in (b"POST /work/noop HTTP/1.1\r\n", b"Host: x\r\nContent-Type: ap"):
            sock.sendall(piece)
            time.sleep(0.3)
        sock.sendall(b"plication/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{")
        time.sleep(0.3)
        sock.sendall(b"}")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    status, _, body = split(data)
    assert status.endswith("200 OK"), data
    assert json.loads(body)["task"] == "noop"


def test_http10_spawn_is_sent_whole_not_chunked(live: Server) -> None:
    data, _, closed = exchange(live, b"POST /spawn/ls HTTP/1.0\r\nHost: x\r\n\r\n")
    status, headers, body = split(data)
    assert status.endswith("200 OK"), data
    assert "transfer-encoding" not in headers
    assert int(headers["content-length"]) == len(body)
    assert json.loads(body.splitlines()[-1])["exit"] == 0
    assert closed


def test_http11_spawn_still_streams_chunked(live: Server) -> None:
    request = b"POST /spawn/ls HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    _, headers, _ = split(exchange(live, request)[0])
    assert headers["transfer-encoding"] == "chunked"


def test_http10_json_answers_keep_their_length(live: Server) -> None:
    status, headers, body = split(exchange(live, b"GET /healthz HTTP/1.0\r\n\r\n")[0])
    assert status.endswith("200 OK")
    assert "transfer-encoding" not in headers
    assert json.loads(body) == {"status": "ok"}


@pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")
def test_curl_http10_reads_the_spawn_output(live: Server) -> None:
    done = subprocess.run(
        ["curl", "-sS", "--http1.0", "-D", "-", "-X", "POST", live.url + "/spawn/ls"],
        capture_output=True,
        timeout=30,
        check=True,
    )
    _, headers, body = split(done.stdout)
    assert "transfer-encoding" not in headers
    assert json.loads(body.splitlines()[-1])["exit"] == 0
