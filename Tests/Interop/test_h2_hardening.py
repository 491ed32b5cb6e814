"""HTTP/2 protocol attacks against a real `roles` process (the serving core every service shares: libnghttp2 behind
TLS), from hyper-h2 and raw frames over a TLS socket with a client certificate. Each test checks that the server
answers with the right HTTP/2 error (or closes), that it stays up (a new connection is served), and that its memory
stays bounded (VmRSS growth).

Rapid reset (CVE-2023-44487), CONTINUATION flood (CVE-2024-27316 class), HPACK bomb and oversized header lists,
SETTINGS and PING floods, too many streams, a slow TLS handshake, slow headers and slow bodies (slowloris), idle
connections. Oversized bodies and GOAWAY on SIGTERM with the answers in flight finished are in test_h2.py.
"""
import os
import socket
import ssl
import struct
import subprocess
import threading
import time

import hpack
import pytest
from interop_support import start_bound
from test_h2 import Client, PASSWORD, RESOLVE, pem_files, resolve_body

BIN = os.environ.get("CERTAUTH_BIN_DIR", ".build/debug")
# Short timeouts, so that the slowloris and idle tests take seconds.
HANDSHAKE_TIMEOUT, READ_TIMEOUT, IDLE_TIMEOUT = 2, 2, 4
# RSS a flood may add to the server, at most (it starts around 20-30 MB).
RSS_BUDGET_KB = 48 * 1024

DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, CONTINUATION = 0, 1, 3, 4, 6, 7, 9
END_STREAM, END_HEADERS, ACK = 0x1, 0x4, 0x1
NO_ERROR, PROTOCOL_ERROR, INTERNAL_ERROR, REFUSED_STREAM, CANCEL, COMPRESSION_ERROR, ENHANCE_YOUR_CALM = 0, 1, 2, 7, 8, 9, 11


@pytest.fixture(scope="module")
def pki():
    import tempfile
    tmp = tempfile.mkdtemp(prefix="certauth-h2-hardening-")
    pki = os.path.join(tmp, "pki")
    subprocess.run([f"{BIN}/certauth", "pki", "init", "--out", pki, "--password", PASSWORD], check=True,
                   stdout=subprocess.DEVNULL)
    return {"tmp": tmp, "pki": pki, "client": pem_files(pki)}


@pytest.fixture(scope="module")
def server(pki):
    env = dict(os.environ, SERVER_SSL_KEY_STORE=os.path.join(pki["pki"], "roles.p12"), SERVER_SSL_KEY_STORE_PASSWORD=PASSWORD,
               SERVER_SSL_CLIENT_AUTH="need", SERVER_SSL_TRUST_STORE=os.path.join(pki["pki"], "truststore.pem"),
               CAMUNDA_DATABASE_TYPE="sqlite", CAMUNDA_DATABASE_URL=os.path.join(pki["tmp"], "roles.sqlite"),
               INITIAL_CLAIM_NAME="azp", INITIAL_CLAIM_VALUE="interop-admin", LOG_FORMAT="text",
               SERVER_TLS_HANDSHAKE_TIMEOUT=str(HANDSHAKE_TIMEOUT), SERVER_REQUEST_READ_TIMEOUT=str(READ_TIMEOUT),
               SERVER_IDLE_TIMEOUT=str(IDLE_TIMEOUT))
    proc, port, _ = start_bound(f"{BIN}/roles", env, os.path.join(pki["tmp"], "roles.log"))
    yield {"proc": proc, "port": port}
    proc.terminate()
    proc.wait(timeout=20)


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def assert_still_serving(server, pki, rss_before):
    """The server is up (a new connection gets an answer) and its memory grew by less than the budget."""
    assert server["proc"].poll() is None, "the server died"
    client = Client(server["port"], pki)
    assert client.request("POST", RESOLVE, resolve_body())["status"] == 200
    client.close()
    grown = rss_kb(server["proc"].pid) - rss_before
    assert grown < RSS_BUDGET_KB, f"RSS grew by {grown} kB"
    return grown


def frame(kind, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


class Raw:
    """HTTP/2 by hand over TLS: frames written as bytes, frames read back and parsed (only their header and the
    fields of GOAWAY and RST_STREAM)."""

    def __init__(self, port, pki, timeout=10):
        context = ssl.create_default_context(cafile=os.path.join(pki["pki"], "truststore.pem"))
        context.load_cert_chain(*pki["client"])
        context.set_alpn_protocols(["h2"])
        self.sock = context.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=timeout),
                                        server_hostname="localhost")
        assert self.sock.selected_alpn_protocol() == "h2"
        self.buffer = b""
        self.goaway = None
        self.resets = {}
        self.headers = {}  # stream id -> decoded response headers
        self.decoder = hpack.Decoder()
        self.closed = False
        self.encoder = hpack.Encoder()
        self.sock.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + frame(SETTINGS, 0, 0))

    def send(self, data):
        try:
            self.sock.sendall(data)
            return True
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, socket.timeout, OSError):
            return False

    def block(self, path="/nothing", extra=()):
        return self.encoder.encode([(":method", "GET"), (":scheme", "https"), (":authority", "localhost"),
                                    (":path", path), *extra])

    def read(self, until, timeout=15):
        """Reads frames until `until()` is true or the server closes; returns whether `until()` held."""
        deadline = time.monotonic() + timeout
        while not until():
            if self.closed or time.monotonic() > deadline:
                return until()
            try:
                self.sock.settimeout(max(0.05, deadline - time.monotonic()))
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except (ssl.SSLError, ConnectionResetError, OSError):
                data = b""
            if not data:
                self.closed = True
                continue
            self.buffer += data
            while len(self.buffer) >= 9:
                length = int.from_bytes(self.buffer[:3], "big")
                if len(self.buffer) < 9 + length:
                    break
                kind, flags = self.buffer[3], self.buffer[4]
                stream = int.from_bytes(self.buffer[5:9], "big") & 0x7FFFFFFF
                payload = self.buffer[9:9 + length]
                self.buffer = self.buffer[9 + length:]
                if kind == GOAWAY:
                    self.goaway = (int.from_bytes(payload[:4], "big") & 0x7FFFFFFF, int.from_bytes(payload[4:8], "big"))
                elif kind == RST_STREAM:
                    self.resets[stream] = int.from_bytes(payload[:4], "big")
                elif kind == HEADERS:
                    # The server sends neither padding nor priority, and whole header blocks.
                    self.headers[stream] = dict(self.decoder.decode(payload))
                elif kind == SETTINGS and not flags & ACK:
                    self.send(frame(SETTINGS, ACK, 0))
        return True

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def test_rapid_reset_is_goaway_and_the_server_lives_on(server, pki):
    before = rss_kb(server["proc"].pid)
    raw = Raw(server["port"], pki)
    burst = b""
    sent = 0
    for i in range(5000):
        stream = 1 + 2 * i
        burst += frame(HEADERS, END_HEADERS | END_STREAM, stream, raw.block()) + frame(RST_STREAM, 0, stream, struct.pack(">I", CANCEL))
        if len(burst) > 32768:
            if not raw.send(burst):
                break
            sent = i
            burst = b""
    raw.send(burst)
    raw.read(lambda: raw.closed, timeout=30)
    assert raw.goaway is not None and raw.goaway[1] != NO_ERROR, (raw.goaway, sent)
    raw.close()
    grown = assert_still_serving(server, pki, before)
    print(f"rapid reset: GOAWAY({raw.goaway[1]}) after at most {sent + 1} HEADERS+RST pairs, closed; RSS +{grown} kB")


def test_continuation_flood_closes_the_connection(server, pki):
    before = rss_kb(server["proc"].pid)
    raw = Raw(server["port"], pki)
    # A literal header whose value (announced as 60,000 bytes) comes in 1-byte CONTINUATION frames.
    start = bytes([0x82, 0x87, 0x84, 0x00, 0x01]) + b"x" + bytes([0x7F, 0xE1, 0xD3, 0x03])
    raw.send(frame(HEADERS, 0, 1, start))
    flood = b"".join(frame(CONTINUATION, 0, 1, b"a") for _ in range(2000))
    for _ in range(50):
        if not raw.send(flood):
            break
    raw.read(lambda: raw.closed, timeout=15)
    assert raw.closed, "the connection stayed open under a CONTINUATION flood"
    assert raw.goaway is not None and raw.goaway[1] == ENHANCE_YOUR_CALM, raw.goaway
    code = raw.goaway[1]
    raw.close()
    grown = assert_still_serving(server, pki, before)
    print(f"CONTINUATION flood: GOAWAY({code}), connection closed; RSS +{grown} kB")


def test_hpack_bomb_is_refused(server, pki):
    before = rss_kb(server["proc"].pid)
    raw = Raw(server["port"], pki)
    raw.read(lambda: False, timeout=0.5)
    value = b"v" * 4000
    # Insert a 4 KB header into the dynamic table (literal with incremental indexing), then refer to it 2000 times
    # with one byte each: 8 MB of decoded header list from a 6 KB block.
    block = bytes([0x82, 0x87, 0x84, 0x41, 0x09]) + b"localhost"
    block += bytes([0x40, 0x06]) + b"x-bomb" + bytes([0x7F, (4000 - 127) & 0x7F | 0x80, (4000 - 127) >> 7]) + value
    block += bytes([0xBE]) * 2000
    raw.send(frame(HEADERS, END_HEADERS | END_STREAM, 1, block))
    raw.read(lambda: 1 in raw.headers or 1 in raw.resets or raw.goaway is not None, timeout=15)
    if 1 in raw.headers:
        assert raw.headers[1].get(":status") == "431", raw.headers[1]  # the decoded list is counted and refused
    else:
        assert 1 in raw.resets or (raw.goaway is not None and raw.goaway[1] in (COMPRESSION_ERROR, PROTOCOL_ERROR, ENHANCE_YOUR_CALM)), \
            (raw.resets, raw.goaway)
    raw.close()
    # The oversized header list without compression tricks, from hyper-h2: 431.
    client = Client(server["port"], pki)
    stream = client.headers("GET", "/nothing", [(f"x-filler-{i}", "f" * 1000) for i in range(40)], end_stream=True)
    client.wait(lambda: client.responses.get(stream, {}).get("ended") or client.responses.get(stream, {}).get("reset"))
    assert client.responses[stream].get("status") == 431 or client.responses[stream].get("reset") is not None, client.responses[stream]
    client.close()
    grown = assert_still_serving(server, pki, before)
    print(f"HPACK bomb: {raw.headers[1][':status'] if 1 in raw.headers else 'reset' if 1 in raw.resets else 'GOAWAY'}; "
          f"40 KB header list: {client.responses[stream].get('status')}; RSS +{grown} kB")


@pytest.mark.parametrize("kind", ["SETTINGS", "PING"])
def test_control_frame_flood_without_reading_is_bounded(server, pki, kind):
    """Frames that each make the server answer (SETTINGS ACK, PING ACK) while the client never reads: the server
    stops reading when its answers back up, or ends the connection (ENHANCE_YOUR_CALM); either way it stays small."""
    before = rss_kb(server["proc"].pid)
    raw = Raw(server["port"], pki, timeout=3)
    one = frame(SETTINGS, 0, 0) if kind == "SETTINGS" else frame(PING, 0, 0, b"12345678")
    chunk = one * 4000
    sent = 0
    started = time.monotonic()
    while time.monotonic() - started < 10 and sent < 400 * len(chunk):
        if not raw.send(chunk):
            break
        sent += len(chunk)
    raw.sock.settimeout(10)
    raw.read(lambda: raw.goaway is not None, timeout=10)
    if raw.goaway is not None:
        assert raw.goaway[1] == ENHANCE_YOUR_CALM, raw.goaway
    raw.close()
    grown = assert_still_serving(server, pki, before)
    print(f"{kind} flood: {sent // len(one)} frames sent before the server {'said GOAWAY' if raw.goaway else 'stopped reading'}; RSS +{grown} kB")


def test_too_many_streams_are_refused(server, pki):
    raw = Raw(server["port"], pki)
    raw.read(lambda: False, timeout=1)  # the server's SETTINGS (100 streams), acknowledged
    for i in range(130):
        raw.send(frame(HEADERS, END_HEADERS, 1 + 2 * i, raw.block("/v1/resolve")))  # never finished
    raw.read(lambda: len(raw.resets) >= 30 or raw.goaway is not None, timeout=15)
    refused = [s for s, code in raw.resets.items() if code in (REFUSED_STREAM, PROTOCOL_ERROR)]
    assert len(refused) >= 30 or (raw.goaway is not None and raw.goaway[1] != NO_ERROR), (raw.resets, raw.goaway)
    raw.close()
    print(f"130 concurrent streams against a limit of 100: {len(refused)} refused, GOAWAY {raw.goaway}")


def test_slow_tls_handshake_is_closed(server):
    sock = socket.create_connection(("127.0.0.1", server["port"]), timeout=HANDSHAKE_TIMEOUT + 8)
    sock.sendall(b"\x16\x03\x01")  # the start of a ClientHello, and nothing more
    started = time.monotonic()
    try:
        rest = sock.recv(1024)
    except ConnectionResetError:
        rest = b""
    elapsed = time.monotonic() - started
    sock.close()
    assert rest == b"" and elapsed < HANDSHAKE_TIMEOUT + 5, (rest, elapsed)
    print(f"TLS handshake left unfinished: closed by the server after {elapsed:.1f} s")


@pytest.mark.parametrize("part", ["headers", "body"])
def test_slow_request_is_408(server, pki, part):
    if part == "headers":
        raw = Raw(server["port"], pki)
        raw.read(lambda: False, timeout=0.5)  # the server's SETTINGS, acknowledged: nothing more is sent after this
        # HEADERS without END_HEADERS: the rest of the header block never comes.
        raw.send(frame(HEADERS, 0, 1, hpack.Encoder().encode([(":method", "POST"), (":scheme", "https")])))
        started = time.monotonic()
        raw.read(lambda: raw.closed, timeout=READ_TIMEOUT + 10)
        elapsed = time.monotonic() - started
        # A header block cut in the middle holds the whole connection's decoder: the connection goes, not just the
        # stream.
        assert raw.closed and raw.goaway is not None and raw.goaway[1] == NO_ERROR, raw.goaway
        assert READ_TIMEOUT - 0.5 < elapsed < READ_TIMEOUT + 5, elapsed
        raw.close()
        print(f"unfinished header block: GOAWAY(NO_ERROR) and closed after {elapsed:.1f} s")
        return
    client = Client(server["port"], pki)
    stream = client.headers("POST", RESOLVE, [("content-type", "application/json")])
    client.conn.send_data(stream, b'{"claims":')
    client.flush()
    started = time.monotonic()
    client.wait(lambda: client.responses.get(stream, {}).get("ended"), timeout=READ_TIMEOUT + 10)
    elapsed = time.monotonic() - started
    assert client.responses[stream]["status"] == 408, client.responses[stream]
    client.wait(lambda: client.responses[stream].get("reset") is not None)
    assert client.responses[stream]["reset"] == NO_ERROR
    assert client.request("POST", RESOLVE, resolve_body())["status"] == 200
    client.close()
    print(f"body never finished: 408 + RST_STREAM(NO_ERROR) after {elapsed:.1f} s; the connection serves on")


def test_idle_connection_gets_goaway_and_is_closed(server, pki):
    client = Client(server["port"], pki)
    assert client.request("POST", RESOLVE, resolve_body())["status"] == 200
    started = time.monotonic()
    client.sock.settimeout(IDLE_TIMEOUT + 10)
    client.wait(lambda: client.closed, timeout=IDLE_TIMEOUT + 10)
    elapsed = time.monotonic() - started
    assert client.goaway is not None and client.goaway.error_code == 0, client.goaway
    assert IDLE_TIMEOUT - 1 < elapsed < IDLE_TIMEOUT + 5, elapsed
    print(f"idle connection: GOAWAY(NO_ERROR) and closed after {elapsed:.1f} s")
