"""The receiver's HTTP as an attacker tries it, over real loopback sockets:
malformed requests get a 4xx and a closed connection and at most one log line; a pipeline of
wrong-token requests ends at the first; idle, slow and never-reading clients are cut off; an
idle flood cannot lock a legitimate webhook out; keep-alive, pipelining, chunked bodies,
100-continue and HTTP/1.0 work; TLS."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import re
import socket
import ssl
import threading
import time
from pathlib import Path

import httpx
import orjson
import pytest

from tests.webhook.support import (
    TOKEN,
    address,
    config,
    contact,
    history,
    query,
    raw,
    request,
    status_of,
    wait_until,
)
from vats_etl import warehouse
from vats_etl.webhook import import_contacts, serve_in_background

pytestmark = pytest.mark.timeout(90)

BODY = orjson.dumps(history())
HEAD = b"POST / HTTP/1.1\r\nHost: x\r\n"
CHUNKED = HEAD + b"Transfer-Encoding: chunked\r\n\r\n"
PAD = b"a" * 16_400  # a header or trailer line over 16 KiB

MALFORMED: list[tuple[str, bytes, int]] = [
    ("garbage", b"garbage\r\n\r\n", 400),
    ("HTTP/2.0", b"POST / HTTP/2.0\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 505),
    ("HTTP/1.1 without Host", b"POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}", 400),
    ("header without colon", HEAD + b"no colon here\r\n\r\n", 400),
    ("Content-Length abc", HEAD + b"Content-Length: abc\r\n\r\n", 400),
    ("Content-Length -1", HEAD + b"Content-Length: -1\r\n\r\n", 400),
    ("Content-Length of 5,000 digits", HEAD + b"Content-Length: " + b"9" * 5000 + b"\r\n\r\n", 400),
    ("Content-Length of 20 digits", HEAD + b"Content-Length: " + b"9" * 20 + b"\r\n\r\n", 413),
    ("non-ASCII digit in Content-Length", HEAD + b"Content-Length: \xb9\r\n\r\n", 400),
    ("two Content-Lengths", HEAD + b"Content-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400),
    ("no length", HEAD + b"\r\n", 411),
    ("body over the limit", HEAD + b"Content-Length: 5000\r\n\r\n" + b"x" * 5000, 413),
    (
        "Content-Length and chunked",
        HEAD + b"Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{}\n\r\n0\r\n\r\n",
        400,
    ),
    ("xchunked", HEAD + b"Transfer-Encoding: xchunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n", 400),
    ("gzip, chunked", HEAD + b"Transfer-Encoding: gzip, chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n", 400),
    ("chunk size 0x10", CHUNKED + b"0x10\r\n" + b"x" * 16 + b"\r\n0\r\n\r\n", 400),
    ("chunk size 1_0", CHUNKED + b"1_0\r\n" + b"x" * 16 + b"\r\n0\r\n\r\n", 400),
    ("chunk size zz", CHUNKED + b"zz\r\n", 400),
    ("chunked over the limit", CHUNKED + (b"200\r\n" + b"x" * 512 + b"\r\n") * 4, 413),
    ("chunked trailer over 16 KiB", CHUNKED + b"2\r\n{}\r\n0\r\nX: " + PAD + b"\r\n\r\n", 400),
    ("head over 16 KiB", HEAD + b"X: " + PAD + b"\r\n\r\n", 400),
    ("wrong path", request(BODY, path="/other"), 404),
    ("GET", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 405),
    ("wrong token", request(orjson.dumps(history(crm_token=TOKEN.upper()))), 401),
]


def test_malformed_requests_get_a_4xx_a_closed_connection_and_one_log_line_at_most(
    tmp_path, caplog
):
    with serve_in_background(config(tmp_path, max_body_bytes=1024)) as receiver:
        caplog.clear()
        caplog.set_level(logging.DEBUG)
        for name, data, status in MALFORMED:
            answer = raw(receiver.url, data)  # returns only once the server closes
            assert answer.startswith(b"HTTP/1.1 "), name
            assert status_of(answer) == status, (name, answer[:120])
            assert len(re.findall(rb"HTTP/1\.1 \d{3} ", answer)) == 1, name  # one answer
        records = [r for r in caplog.records if r.name.startswith(("uvicorn", "vats_etl"))]
        with httpx.Client() as client:  # still serving
            assert client.post(receiver.url, json=contact()).status_code == 200
        db = receiver.config.db_path
    assert len(records) <= len(MALFORMED)
    assert not [r for r in records if r.exc_info or "Traceback" in r.getMessage()]
    assert query(db, "select count(*) from calls") == [(0,)]


@pytest.mark.slow
def test_a_body_that_ends_early_is_not_stored(tmp_path):
    with serve_in_background(config(tmp_path)) as receiver:
        with socket.create_connection(address(receiver.url), timeout=5) as sock:
            sock.sendall(request(BODY)[:-10])
            sock.shutdown(socket.SHUT_WR)
            assert sock.recv(65536) == b""  # closed, nothing to answer
        with httpx.Client() as client:
            assert client.post(receiver.url, json=history("C-2")).status_code == 200
    assert query(receiver.config.db_path, "select uid from calls") == [("C-2",)]


def test_keep_alive_pipelining_chunked_expect_continue_and_http10(tmp_path):
    with serve_in_background(config(tmp_path)) as receiver:
        one = orjson.dumps(contact())
        pipelined = raw(
            receiver.url, request(one) * 3 + request(one, headers="Connection: close\r\n")
        )
        assert pipelined.count(b"HTTP/1.1 200 OK") == 4
        assert pipelined.rstrip().endswith(b"{}")

        chunked = (
            CHUNKED.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n")
            + b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (BODY[:10], BODY[10:]))
            + b"0\r\nX-Trailer: ok\r\n\r\n"
        )
        assert b'{"result":"ok"}' in raw(receiver.url, chunked)

        head = request(b"", headers="Expect: 100-continue\r\nConnection: close\r\n")
        head = head.replace(b"Content-Length: 0", b"Content-Length: %d" % len(BODY))
        with socket.create_connection(address(receiver.url), timeout=5) as sock:
            sock.sendall(head)
            assert sock.recv(100).startswith(b"HTTP/1.1 100 Continue")
            sock.sendall(BODY)
            assert b"200 OK" in sock.recv(1000)

        http10 = raw(receiver.url, request(one, version="1.0"))
        assert b"Connection: close" in http10 and status_of(http10) == 200

        big_head = request(one, headers="X-Pad: " + "a" * 14_000 + "\r\nConnection: close\r\n")
        assert status_of(raw(receiver.url, big_head)) == 200  # under the 16 KiB bound


def test_a_pipeline_of_wrong_token_requests_ends_at_the_first_and_others_are_served(tmp_path):
    """100 connections pipelining 4,000 wrong-token requests each once kept the server busy
    ~32 s and legitimate requests timed out. A refusal closes the connection."""
    wrong = request(orjson.dumps(history(crm_token="nope")))
    answers: list[bytes] = []
    with serve_in_background(config(tmp_path)) as receiver:

        def attacker() -> None:
            with socket.create_connection(address(receiver.url), timeout=10) as sock:
                with contextlib.suppress(OSError):  # closed after the first answer: expected
                    sock.sendall(wrong * 4000)
                chunks = []
                try:
                    while chunk := sock.recv(65536):
                        chunks.append(chunk)
                except OSError:
                    pass
                answers.append(b"".join(chunks))

        threads = [threading.Thread(target=attacker) for _ in range(100)]
        for t in threads:
            t.start()
        took = []
        with httpx.Client(timeout=10) as client:
            for i in range(6):
                started = time.perf_counter()
                assert client.post(receiver.url, json=history(f"L-{i}")).status_code == 200
                took.append(time.perf_counter() - started)
        for t in threads:
            t.join()
        refused = receiver.stats.rejected[401]
    assert max(took) < 5.0, took  # before: half of them timed out
    assert len(answers) == 100
    assert all(a.count(b"HTTP/1.1 401") <= 1 for a in answers)
    assert refused <= 100  # one per connection, not 400,000
    assert query(receiver.config.db_path, "select count(*) from calls") == [(6,)]


def test_clients_that_never_read_their_answers_are_cut_off(tmp_path):
    """The wait for the socket to drain once had no timeout (100 of 100 connections held
    after 85 s). Now an answer not taken within request_timeout_s ends it."""
    csv_file = tmp_path / "contacts.csv"  # a long name: each answer is 16 KB, buffers fill fast
    csv_file.write_text("phone,contact_name\n79101234567," + "Я" * 8000 + "\n", "utf-8")
    with warehouse.connect(
        tmp_path / "vats.duckdb", company=warehouse.Company("Europe/Moscow")
    ) as con:
        import_contacts(con, csv_file, imported_at=dt.datetime.now(dt.UTC))
    ask = request(orjson.dumps(contact()))
    cut: list[float] = []
    with serve_in_background(config(tmp_path, request_timeout_s=1.0, keep_alive_s=60)) as receiver:

        def never_reads() -> None:
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.connect(address(receiver.url))
            sock.settimeout(0.2)
            data, sent, started = ask * 2000, 0, time.monotonic()
            with sock:
                while time.monotonic() - started < 60:
                    try:
                        sent += sock.send(data[sent % len(data) :] or data)
                    except TimeoutError:
                        continue
                    except OSError:  # reset by the server
                        cut.append(time.monotonic() - started)
                        return

        threads = [threading.Thread(target=never_reads) for _ in range(5)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        timed_out = receiver.stats.connections.timed_out
    assert len(cut) == 5 and max(cut) < 20, cut
    assert timed_out == 5


@pytest.mark.slow
def test_idle_and_slow_connections_are_closed(tmp_path):
    with serve_in_background(config(tmp_path, keep_alive_s=1, request_timeout_s=1.0)) as r:
        with socket.create_connection(address(r.url), timeout=10) as idle:
            started = time.monotonic()
            assert idle.recv(100) == b""  # never sent anything: closed after keep-alive
            assert 0.8 < time.monotonic() - started < 5
        with socket.create_connection(address(r.url), timeout=10) as slow:
            started = time.monotonic()
            data = request(BODY)
            with pytest.raises(OSError):  # a byte every 0.2 s: cut off at the deadline
                for byte in data:
                    slow.sendall(bytes([byte]))
                    time.sleep(0.2)
            assert time.monotonic() - started < 5
        assert r.stats.connections.timed_out == 1
    assert query(r.config.db_path, "select count(*) from calls") == [(0,)]


def test_an_idle_flood_cannot_lock_a_legitimate_webhook_out(tmp_path):
    """Connections are capped (here at 20); past the cap a new connection closes the one
    idle the longest, so the PBX still gets in, and nothing answered 200 is lost."""
    with serve_in_background(config(tmp_path, limit_concurrency=20)) as receiver:
        idle = [socket.create_connection(address(receiver.url)) for _ in range(40)]
        try:
            wait_until(lambda: receiver.stats.connections.shed >= 20, what="shedding")
            with httpx.Client(timeout=5) as client:
                for i in range(5):
                    response = client.post(receiver.url, json=history(f"L-{i}"))
                    assert response.status_code == 200

            def closed(sock: socket.socket) -> bool:
                sock.settimeout(0.05)
                try:
                    return sock.recv(10) == b""
                except TimeoutError:
                    return False  # still open
                except ConnectionError:
                    return True

            assert [closed(sock) for sock in idle[:20]] == [True] * 20  # the oldest went first
            assert sum(closed(sock) for sock in idle[-10:]) == 0  # the newest stay
        finally:
            for sock in idle:
                sock.close()
    assert query(receiver.config.db_path, "select count(*) from calls") == [(5,)]


def _self_signed(directory: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    import ipaddress

    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def test_https_with_a_certificate_and_its_key(tmp_path):
    cert, key = _self_signed(tmp_path)
    cfg = config(tmp_path, ssl_certfile=cert, ssl_keyfile=key)
    with serve_in_background(cfg) as receiver:
        assert receiver.url.startswith("https://127.0.0.1:")
        trust = ssl.create_default_context(cafile=str(cert))
        with httpx.Client(verify=trust) as client:
            assert client.post(receiver.url, json=history()).json() == {"result": "ok"}
            health = client.get(receiver.url.rsplit("/", 1)[0] + "/health")
            assert health.status_code == 200 and health.json()["status"] == "ok"
        try:  # plain HTTP on the TLS port gets nowhere
            plain = raw(receiver.url.replace("https", "http"), request(BODY), timeout=2)
        except OSError:
            plain = b""
        assert b"HTTP/1.1" not in plain
    assert query(receiver.config.db_path, "select uid from calls") == [("C-1",)]


def test_a_missing_certificate_is_a_one_line_error(tmp_path):
    from vats_etl.errors import WebhookError

    with (
        pytest.raises(WebhookError, match="cannot use the TLS certificate"),
        serve_in_background(config(tmp_path, ssl_certfile=tmp_path / "none.pem")),
    ):
        pass


def test_answers_are_not_held_back_by_nagle(tmp_path):
    """uvicorn writes an answer's head and body separately: without TCP_NODELAY on the
    accepted socket each request waited ~40 ms for the client's delayed ACK."""
    with serve_in_background(config(tmp_path)) as receiver, httpx.Client() as client:
        assert client.post(receiver.url, json=contact()).status_code == 200
        assert receiver._server is not None
        connections = list(receiver._server.server_state.connections)
        sockets = [c.transport.get_extra_info("socket") for c in connections]
        assert sockets
        assert all(s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) for s in sockets)
