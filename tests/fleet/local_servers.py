"""Small servers for the fleet's safety and TLS tests: plain or TLS, on loopback, answering each
path as a test tells them, and counting what reached them; and a throwaway CA.

:class:`Server` answers HTTP/1.1 from a thread per connection. A route is a :class:`Reply` (a
status, headers and a body, or an endless body, or bytes that are not HTTP at all). With a
``context`` the server speaks TLS, and records the SNI name each handshake named. Every
request is kept (method, path, headers), so a test can assert that nothing reached it.

:class:`TestCA` makes a CA and server certificates with :mod:`cryptography`, valid for the
names and the number of days asked, written as PEM files into a folder of the test's own.
"""

from __future__ import annotations

import datetime
import socket
import socketserver
import ssl
import threading
import warnings
from dataclasses import dataclass, field
from ipaddress import ip_address
from pathlib import Path
from typing import Any, Callable

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=lambda: {"content-type": "application/json"})
    body: bytes = b"{}"
    endless: bool = False  # the body never ends (chunks of zeros until the client goes)
    raw: bytes | None = None  # sent instead of any HTTP answer


def json_reply(data: Any, content_type: str = "application/fhir+json") -> Reply:
    import json

    return Reply(200, {"content-type": content_type}, json.dumps(data).encode())


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]


class _Handler(socketserver.BaseRequestHandler):
    server: _TCPServer

    def handle(self) -> None:
        owner = self.server.owner
        conn: socket.socket = self.request
        conn.settimeout(5)
        if owner.context is not None:
            try:
                conn = owner.context.wrap_socket(conn, server_side=True)
            except (ssl.SSLError, OSError):
                return  # a refused version, a client that gave up: nothing to answer
        try:
            reader = conn.makefile("rb")
            line = reader.readline(65536)
            if not line:
                return
            headers: dict[str, str] = {}
            while True:
                header = reader.readline(65536)
                if header in (b"\r\n", b"\n", b""):
                    break
                name, _, value = header.decode("latin-1").partition(":")
                headers[name.strip().lower()] = value.strip()
            parts = line.decode("latin-1").split()
            path = parts[1] if len(parts) > 1 else "/"
            owner.seen.append(Seen(parts[0] if parts else "", path, headers))
            reply = owner.reply(path)
            if reply.raw is not None:
                conn.sendall(reply.raw)
                return
            head = f"HTTP/1.1 {reply.status} X\r\n" + "".join(f"{k}: {v}\r\n" for k, v in reply.headers.items())
            if reply.endless:
                conn.sendall((head + "transfer-encoding: chunked\r\nconnection: close\r\n\r\n").encode())
                chunk = b"%x\r\n%s\r\n" % (65536, b" " * 65536)
                while True:
                    conn.sendall(chunk)
            conn.sendall((head + f"content-length: {len(reply.body)}\r\nconnection: close\r\n\r\n").encode()
                         + reply.body)
        except (OSError, ssl.SSLError):
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass


class _TCPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128
    owner: Server


class Server:
    """An HTTP(S) server on 127.0.0.1 answering from ``routes`` (path, or path prefix ending in ``*``)."""

    def __init__(self, routes: dict[str, Reply | Callable[[str], Reply]] | None = None,
                 context: ssl.SSLContext | None = None) -> None:
        self.routes = dict(routes or {})
        self.context = context
        self.seen: list[Seen] = []
        self.sni: list[str | None] = []
        if context is not None:
            context.sni_callback = lambda _obj, name, _ctx: self.sni.append(name)
        self._server = _TCPServer(("127.0.0.1", 0), _Handler)
        self._server.owner = self
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def origin(self, host: str = "127.0.0.1") -> str:
        return f"{'https' if self.context else 'http'}://{host}:{self.port}"

    def reply(self, path: str) -> Reply:
        route = self.routes.get(path)
        if route is None:
            route = next((r for p, r in self.routes.items() if p.endswith("*") and path.startswith(p[:-1])), None)
        if route is None:
            return Reply(404, {"content-type": "text/plain"}, b"not here")
        return route(path) if callable(route) else route

    def __enter__(self) -> Server:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def tcp_banner(banner: bytes) -> Server:
    """A service that is not HTTP: it writes ``banner`` and closes (an SSH daemon, say)."""
    return Server({"*": Reply(raw=banner)})


# --- a throwaway CA -----------------------------------------------------------------------------

def _name(common: str, organization: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization)])


class TestCA:
    """A CA of the test's own; :meth:`issue` writes a server certificate and key signed by it."""

    __test__ = False  # not a test class

    def __init__(self, folder: Path, common_name: str = "Fleet Test CA") -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.name = _name(common_name, "Fleet Tests")
        now = datetime.datetime.now(datetime.timezone.utc)
        self.cert = (x509.CertificateBuilder().subject_name(self.name).issuer_name(self.name)
                     .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                     .not_valid_before(now - datetime.timedelta(days=1))
                     .not_valid_after(now + datetime.timedelta(days=3650))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                     .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                                  content_commitment=False, key_encipherment=False,
                                                  data_encipherment=False, key_agreement=False,
                                                  encipher_only=False, decipher_only=False), critical=True)
                     .sign(self.key, hashes.SHA256()))
        self.pem = folder / f"{common_name.replace(' ', '-').lower()}.pem"
        self.pem.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))

    def issue(self, *names: str, days: float = 90, expired: bool = False) -> tuple[Path, Path]:
        """(certificate, key) PEM files for ``names`` (DNS names or IP addresses), valid ``days`` more."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        start = now - datetime.timedelta(days=30 if expired else 1)
        end = now - datetime.timedelta(days=1) if expired else now + datetime.timedelta(days=days)
        alt: list[x509.GeneralName] = []
        for name in names:
            try:
                alt.append(x509.IPAddress(ip_address(name)))
            except ValueError:
                alt.append(x509.DNSName(name))
        cert = (x509.CertificateBuilder().subject_name(_name(names[0], "Fleet Tenant")).issuer_name(self.name)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(start).not_valid_after(end)
                .add_extension(x509.SubjectAlternativeName(alt), critical=False)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .sign(self.key, hashes.SHA256()))
        stem = self.folder / f"{names[0]}-{x509.random_serial_number() % 10**8}"
        cert_path, key_path = stem.with_suffix(".crt"), stem.with_suffix(".key")
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        return cert_path, key_path

    def server_context(self, *names: str, days: float = 90, expired: bool = False,
                       legacy: bool = False) -> ssl.SSLContext:
        """A server context with a certificate for ``names``; ``legacy``: TLS 1.0 and 1.1 accepted too."""
        cert, key = self.issue(*names, days=days, expired=expired)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            context.minimum_version = ssl.TLSVersion.TLSv1 if legacy else ssl.TLSVersion.TLSv1_2
        if legacy:
            context.set_ciphers("DEFAULT:@SECLEVEL=0")
        return context


# --- a resolver of the test's own ---------------------------------------------------------------

class FakeDNS:
    """Stands in for ``socket.getaddrinfo``: names answer what ``answers`` says (a list, or a list
    per call in turn); IP literals resolve as usual; any other name does not resolve. Every name
    asked is kept in ``asked``."""

    def __init__(self, answers: dict[str, list[str] | list[list[str]]]) -> None:
        self.answers = answers
        self.asked: list[str] = []
        self._real = socket.getaddrinfo
        self._calls: dict[str, int] = {}

    def __call__(self, host: Any, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        name = host.decode() if isinstance(host, bytes) else str(host)
        try:
            ip_address(name)
            return self._real(host, port, *args, **kwargs)
        except ValueError:
            pass
        self.asked.append(name)
        answer = self.answers.get(name)
        if answer is None:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        if answer and isinstance(answer[0], list):
            turn = self._calls.get(name, 0)
            self._calls[name] = turn + 1
            answer = answer[min(turn, len(answer) - 1)]  # type: ignore[assignment]
        out = []
        for address in answer:
            family = socket.AF_INET6 if ":" in address else socket.AF_INET
            sockaddr = (address, int(port or 0), 0, 0) if family == socket.AF_INET6 else (address, int(port or 0))
            out.append((family, socket.SOCK_STREAM, 6, "", sockaddr))
        return out
