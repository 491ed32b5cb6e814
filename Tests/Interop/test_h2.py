"""The services' HTTP/2 server (ServiceSupport's HTTP2RequestHandler) against an independent HTTP/2 implementation:
hyper-h2 (PyPI's `h2`) over a real TLS socket with a client certificate, talking to a real `roles` process.

The server handles HTTP/2 frames itself (no per-stream child channel), so what swift-nio-http2's multiplexer used to
do for us is checked here from the wire: request bodies in several DATA frames and with trailers, inbound flow
control (a body of exactly the 64 KiB limit needs a WINDOW_UPDATE from the server), a body over the limit answered
413 without harming the connection, a stream reset by the client, a malformed request reset by the server, many
concurrent streams, HTTP/1.1 through ALPN, and GOAWAY on graceful shutdown.
"""
import json
import os
import signal
import socket
import ssl
import subprocess
import tempfile
import time

import h2.config
import h2.connection
import h2.events
import h2.settings
import pytest
from interop_support import start_bound

BIN = os.environ.get("CERTAUTH_BIN_DIR", ".build/debug")
PASSWORD = "interop-pw"
RESOLVE = "/v1/resolve"
LIMIT = 64 * 1024


def pem_files(pki):
    """authn's keystore (the caller roles admits by default) as PEM files for Python's ssl module."""
    from cryptography.hazmat.primitives.serialization import pkcs12, Encoding, PrivateFormat, NoEncryption
    with open(os.path.join(pki, "authn.p12"), "rb") as f:
        key, cert, _ = pkcs12.load_key_and_certificates(f.read(), PASSWORD.encode())
    key_path, cert_path = os.path.join(pki, "client-key.pem"), os.path.join(pki, "client-cert.pem")
    with open(key_path, "wb") as f:
        f.write(key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    with open(cert_path, "wb") as f:
        f.write(cert.public_bytes(Encoding.PEM))
    return cert_path, key_path


def start_roles(tmp, pki):
    name = f"roles-{time.monotonic_ns()}"
    env = dict(os.environ, SERVER_SSL_KEY_STORE=os.path.join(pki, "roles.p12"), SERVER_SSL_KEY_STORE_PASSWORD=PASSWORD,
               SERVER_SSL_CLIENT_AUTH="need", SERVER_SSL_TRUST_STORE=os.path.join(pki, "truststore.pem"),
               CAMUNDA_DATABASE_TYPE="sqlite", CAMUNDA_DATABASE_URL=os.path.join(tmp, f"{name}.sqlite"),
               INITIAL_CLAIM_NAME="azp", INITIAL_CLAIM_VALUE="interop-admin", LOG_FORMAT="text")
    proc, port, _ = start_bound(f"{BIN}/roles", env, os.path.join(tmp, f"{name}.log"))
    return proc, port


@pytest.fixture(scope="module")
def pki():
    tmp = tempfile.mkdtemp(prefix="certauth-h2-")
    pki = os.path.join(tmp, "pki")
    subprocess.run([f"{BIN}/certauth", "pki", "init", "--out", pki, "--password", PASSWORD], check=True,
                   stdout=subprocess.DEVNULL)
    return {"tmp": tmp, "pki": pki, "client": pem_files(pki)}


@pytest.fixture(scope="module")
def roles(pki):
    proc, port = start_roles(pki["tmp"], pki["pki"])
    yield port
    proc.terminate()
    proc.wait(timeout=20)


class Client:
    """A minimal HTTP/2 client on hyper-h2: one TLS connection, frames pumped by hand."""

    def __init__(self, port, pki, validate=True):
        context = ssl.create_default_context(cafile=os.path.join(pki["pki"], "truststore.pem"))
        context.load_cert_chain(*pki["client"])
        context.set_alpn_protocols(["h2"])
        raw = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock = context.wrap_socket(raw, server_hostname="localhost")
        assert self.sock.selected_alpn_protocol() == "h2"
        config = h2.config.H2Configuration(client_side=True, header_encoding="utf-8",
                                           validate_outbound_headers=validate, normalize_outbound_headers=validate)
        self.conn = h2.connection.H2Connection(config=config)
        self.write_closed = False
        self.conn.initiate_connection()
        self.flush()
        self.responses = {}  # stream id -> {"status", "headers", "body", "ended", "reset"}
        self.goaway = None
        self.ping_acks = set()
        self.closed = False

    def flush(self):
        data = self.conn.data_to_send()
        if data and not self.write_closed:
            self.sock.sendall(data)

    def pump(self):
        """Reads once from the socket and records what the frames mean."""
        try:
            data = self.sock.recv(65536)
        except ssl.SSLEOFError:  # the server closed TCP after our own ragged EOF; it owes no close_notify then
            data = b""
        if not data:
            self.closed = True
            return
        for event in self.conn.receive_data(data):
            stream = getattr(event, "stream_id", None)
            if isinstance(event, h2.events.ResponseReceived):
                entry = self.responses.setdefault(stream, {"body": b"", "ended": False, "reset": None})
                entry["headers"] = dict(event.headers)
                entry["status"] = int(entry["headers"][":status"])
            elif isinstance(event, h2.events.DataReceived):
                self.responses[stream]["body"] += event.data
                self.conn.acknowledge_received_data(event.flow_controlled_length, stream)
            elif isinstance(event, h2.events.StreamEnded):
                self.responses[stream]["ended"] = True
            elif isinstance(event, h2.events.StreamReset):
                self.responses.setdefault(stream, {"body": b"", "ended": False})["reset"] = event.error_code
            elif isinstance(event, h2.events.ConnectionTerminated):
                self.goaway = event
            elif isinstance(event, h2.events.PingAckReceived):
                self.ping_acks.add(event.ping_data)
        self.flush()

    def wait(self, done, timeout=15):
        deadline = time.monotonic() + timeout
        while not done():
            assert time.monotonic() < deadline, f"timed out; responses so far: {self.responses}"
            self.pump()
            if self.closed:
                break

    def headers(self, method, path, extra=(), end_stream=False):
        stream = self.conn.get_next_available_stream_id()
        self.conn.send_headers(stream, [(":method", method), (":scheme", "https"), (":authority", "localhost"),
                                        (":path", path), *extra], end_stream=end_stream)
        self.flush()
        return stream

    def send_body(self, stream, body, chunk=16384, end_stream=True):
        """Sends `body` in DATA frames of at most `chunk` bytes, waiting for flow-control credit as needed."""
        offset = 0
        while offset < len(body):
            window = min(self.conn.local_flow_control_window(stream), self.conn.max_outbound_frame_size, chunk)
            if window == 0:
                self.pump()  # wait for the server's WINDOW_UPDATE
                continue
            piece = body[offset:offset + window]
            self.conn.send_data(stream, piece)
            offset += len(piece)
            self.flush()
        if end_stream:
            self.conn.end_stream(stream)
            self.flush()

    def request(self, method, path, body=None, extra=()):
        stream = self.headers(method, path, [("content-type", "application/json"), *extra], end_stream=body is None)
        if body is not None:
            self.send_body(stream, body)
        self.wait(lambda: self.responses.get(stream, {}).get("ended") or self.responses.get(stream, {}).get("reset"))
        return self.responses[stream]

    def sync(self, opaque=b"syncsync"):
        """PING and wait for its ACK: the server has then read every frame sent before it (frames are handled in
        order), so a signal sent next cannot overtake them."""
        self.conn.ping(opaque)
        self.flush()
        self.wait(lambda: opaque in self.ping_acks)

    def close(self):
        self.sock.close()


def resolve_body(value="interop-admin", pad=0):
    return (json.dumps({"claims": {"azp": value}}) + " " * pad).encode()


def test_resolve_in_several_data_frames_and_with_trailers(roles, pki):
    client = Client(roles, pki)
    answer = client.request("POST", RESOLVE, resolve_body(), extra=())
    assert answer["status"] == 200, answer
    assert "admin" in json.loads(answer["body"])["roles"]
    assert answer["headers"]["content-type"] == "application/json"
    assert int(answer["headers"]["content-length"]) == len(answer["body"])
    assert answer["headers"]["date"].endswith(" GMT")
    # The same body a few bytes per DATA frame, then a trailer block ending the stream.
    stream = client.headers("POST", RESOLVE, [("content-type", "application/json")])
    client.send_body(stream, resolve_body(), chunk=7, end_stream=False)
    client.conn.send_headers(stream, [("x-trailer", "1")], end_stream=True)
    client.flush()
    client.wait(lambda: client.responses.get(stream, {}).get("ended"))
    assert client.responses[stream]["status"] == 200
    assert json.loads(client.responses[stream]["body"]) == json.loads(answer["body"])
    print("resolve over h2: one frame and 7-byte frames + trailers: 200, same answer")
    client.close()


def test_no_content_answer_has_no_content_length(roles, pki):
    client = Client(roles, pki)
    body = json.dumps({"mappingRuleId": "h2-interop", "name": "h2 interop", "claimName": "azp",
                       "claimValue": "h2-interop-client"}).encode()
    admin = [("x-auth-principal", '"h2-interop-admin"'), ("x-auth-roles", '"admin"'), ("x-auth-admin", "?1"),
             ("x-auth-method", "oidc")]
    created = client.request("POST", "/v2/mapping-rules", body, extra=admin)
    assert created["status"] in (200, 201), created
    deleted = client.request("DELETE", "/v2/mapping-rules/h2-interop", extra=admin)
    assert deleted["status"] == 204, deleted
    assert "content-length" not in deleted["headers"] and deleted["body"] == b""
    print("DELETE /v2/mapping-rules/…: 204 without content-length (RFC 9110 section 8.6)")
    client.close()


def test_body_of_exactly_the_limit_needs_and_gets_window_updates(roles, pki):
    client = Client(roles, pki)
    body = resolve_body(pad=LIMIT - len(resolve_body()))
    assert len(body) == LIMIT  # one byte over the initial stream window of 65,535
    answer = client.request("POST", RESOLVE, body)
    assert answer["status"] == 200, answer
    assert "admin" in json.loads(answer["body"])["roles"]
    print(f"{len(body)}-byte body (over the initial 65,535-byte window): 200")
    client.close()


def test_body_over_the_limit_is_413_and_the_connection_lives_on(roles, pki):
    client = Client(roles, pki)
    stream = client.headers("POST", RESOLVE, [("content-type", "application/json")])
    client.send_body(stream, b"x" * (LIMIT + 1), end_stream=False)
    client.wait(lambda: client.responses.get(stream, {}).get("ended"))
    answer = client.responses[stream]
    assert answer["status"] == 413, answer
    assert json.loads(answer["body"])["error"] == "request_too_large"
    client.wait(lambda: client.responses[stream].get("reset") is not None)
    assert client.responses[stream]["reset"] == 0  # RST_STREAM(NO_ERROR): stop sending, RFC 9113 section 8.1
    again = client.request("POST", RESOLVE, resolve_body())
    assert again["status"] == 200
    print("65,537-byte body: 413 + RST_STREAM(NO_ERROR); next request on the connection: 200")
    client.close()


def test_client_reset_stream_then_more_requests(roles, pki):
    client = Client(roles, pki)
    stream = client.headers("POST", RESOLVE, [("content-type", "application/json")])
    client.conn.send_data(stream, b'{"claims":')
    client.conn.reset_stream(stream, error_code=8)  # CANCEL
    client.flush()
    for _ in range(3):
        assert client.request("POST", RESOLVE, resolve_body())["status"] == 200
    assert client.goaway is None
    print("RST_STREAM(CANCEL) mid-body, then three requests on the same connection: 200")
    client.close()


def test_malformed_request_is_reset_and_the_connection_lives_on(roles, pki):
    client = Client(roles, pki, validate=False)
    stream = client.conn.get_next_available_stream_id()
    # No :path, and an upper-case field name: both malformed in HTTP/2 (RFC 9113 section 8.3.1, 8.2.1).
    client.conn.send_headers(stream, [(":method", "GET"), (":scheme", "https"), (":authority", "localhost"),
                                      ("X-Upper", "1")], end_stream=True)
    client.flush()
    client.wait(lambda: client.responses.get(stream, {}).get("reset") is not None
                or client.responses.get(stream, {}).get("ended"))
    assert client.responses[stream].get("reset") == 1 or client.responses[stream].get("status") == 400, \
        client.responses[stream]  # PROTOCOL_ERROR
    assert client.request("POST", RESOLVE, resolve_body())["status"] == 200
    print(f"malformed HEADERS: {client.responses[stream]}; next request: 200")
    client.close()


def test_many_concurrent_streams_each_get_their_own_answer(roles, pki):
    client = Client(roles, pki)
    streams = {}
    for i in range(64):
        value = "interop-admin" if i % 2 == 0 else f"nobody-{i}"
        stream = client.headers("POST", RESOLVE, [("content-type", "application/json")])
        client.send_body(stream, resolve_body(value))
        streams[stream] = value
    client.wait(lambda: all(client.responses.get(s, {}).get("ended") for s in streams))
    for stream, value in streams.items():
        answer = client.responses[stream]
        assert answer["status"] == 200
        roles = json.loads(answer["body"])["roles"]
        assert ("admin" in roles) == (value == "interop-admin"), (value, roles)
    print("64 concurrent streams on one connection: each answered for its own request")
    client.close()


def test_http1_through_alpn(roles, pki):
    import http.client
    context = ssl.create_default_context(cafile=os.path.join(pki["pki"], "truststore.pem"))
    context.load_cert_chain(*pki["client"])
    context.set_alpn_protocols(["http/1.1"])
    conn = http.client.HTTPSConnection("localhost", roles, context=context, timeout=10)
    for _ in range(2):  # kept alive
        conn.request("POST", RESOLVE, body=resolve_body(), headers={"content-type": "application/json"})
        response = conn.getresponse()
        assert response.status == 200
        assert "admin" in json.loads(response.read())["roles"]
    assert conn.sock.selected_alpn_protocol() == "http/1.1"
    conn.request("POST", RESOLVE, body=b" " * (LIMIT + 1), headers={"content-type": "application/json"})
    too_large = conn.getresponse()
    too_large.read()
    assert too_large.status == 413, too_large.status
    print("HTTP/1.1 via ALPN, two requests on one connection: 200; a 65,537-byte body: 413")
    conn.close()


def test_goaway_on_graceful_shutdown(pki):
    proc, port = start_roles(pki["tmp"], pki["pki"])
    try:
        client = Client(port, pki)
        assert client.request("POST", RESOLVE, resolve_body())["status"] == 200
        proc.send_signal(signal.SIGTERM)
        client.wait(lambda: client.goaway is not None, timeout=30)
        assert client.goaway.error_code == 0  # NO_ERROR
        assert client.goaway.last_stream_id == 1
        client.wait(lambda: client.closed, timeout=30)
        assert proc.wait(timeout=30) == 0
        print(f"SIGTERM: GOAWAY(NO_ERROR, last stream {client.goaway.last_stream_id}), connection closed, exit 0")
    finally:
        if proc.poll() is None:
            proc.kill()


def test_connection_error_is_goaway_and_close(roles, pki):
    client = Client(roles, pki)
    # WINDOW_UPDATE on stream 0 with an increment of 0: a connection error (RFC 9113 section 6.9).
    client.sock.sendall(b"\x00\x00\x04\x08\x00\x00\x00\x00\x00\x00\x00\x00\x00")
    client.wait(lambda: client.closed, timeout=15)
    assert client.goaway is not None and client.goaway.error_code == 1, client.goaway  # PROTOCOL_ERROR
    print(f"zero WINDOW_UPDATE on stream 0: GOAWAY({client.goaway.error_code!r}), connection closed by the server")


def test_graceful_shutdown_does_not_wait_forever_for_an_unfinished_request(pki):
    proc, port = start_roles(pki["tmp"], pki["pki"])
    try:
        client = Client(port, pki)
        stream = client.headers("POST", RESOLVE, [("content-type", "application/json")])  # body never finished
        client.conn.send_data(stream, b'{"claims":')
        client.flush()
        client.sync()  # without it, a loaded server could read SIGTERM before the HEADERS: GOAWAY(last stream 0)
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        client.wait(lambda: client.goaway is not None, timeout=30)
        assert client.goaway.last_stream_id == stream
        client.sock.settimeout(40)
        client.wait(lambda: client.closed, timeout=40)
        assert proc.wait(timeout=30) == 0
        elapsed = time.monotonic() - started
        assert elapsed < 35, elapsed
        print(f"SIGTERM with a request left unfinished: GOAWAY, connection closed and exit 0 after {elapsed:.1f} s")
    finally:
        if proc.poll() is None:
            proc.kill()


def test_client_half_close_gets_its_answers_then_the_server_closes(roles, pki):
    client = Client(roles, pki)
    streams = []
    for _ in range(3):
        stream = client.headers("POST", RESOLVE, [("content-type", "application/json")])
        client.send_body(stream, resolve_body())
        streams.append(stream)
    unfinished = client.headers("POST", RESOLVE, [("content-type", "application/json")])  # never finished
    # FIN without TLS close_notify (a "ragged EOF"): the client sends nothing more. socket.socket's own shutdown, as
    # SSLSocket.shutdown would also drop the TLS state and make the answers unreadable.
    socket.socket.shutdown(client.sock, socket.SHUT_WR)
    client.write_closed = True
    started = time.monotonic()
    client.wait(lambda: client.closed, timeout=15)
    assert time.monotonic() - started < 10  # closed when the answers are out, not at the 20 s drain timeout
    for stream in streams:
        assert client.responses[stream]["status"] == 200 and client.responses[stream]["ended"]
    assert unfinished not in client.responses or client.responses[unfinished].get("status") is None
    print("half-close after 3 requests and an unfinished one: 3 answers, then the server closed the connection")


def test_close_notify_from_the_client_closes_the_connection(roles, pki):
    # What h2load does at the end of a connection; before the server drained on `inputClosed`, such connections
    # stayed open on the server side for good (authn's RSS grew ~90 KB per connection in `make bench`).
    client = Client(roles, pki)
    assert client.request("POST", RESOLVE, resolve_body())["status"] == 200
    client.conn.close_connection()
    client.flush()
    try:
        raw = client.sock.unwrap()  # TLS close_notify; returns with the server's
    except (ssl.SSLError, OSError):
        raw = client.sock
    raw.settimeout(10)
    try:
        rest = raw.recv(1024)
    except ssl.SSLError:
        rest = b""
    assert rest == b"", rest
    print("GOAWAY + close_notify from the client: the server closed the connection")
