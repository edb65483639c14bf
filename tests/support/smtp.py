"""A real SMTP server on loopback (aiosmtpd) for the email tests: in the clear, with STARTTLS
and login, or over implicit TLS, refusing the recipients it is told to; a throwaway
certificate for it; the parts of a message it received; and the settings (the environment
of a command, or Settings for a flow) that send to it."""

from __future__ import annotations

import datetime as dt
import email
import ipaddress
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.support.processes import free_port

if TYPE_CHECKING:
    from vats_etl.config import Settings

USER, PASSWORD = "reports", "s3cret-pw-Zq9"


@dataclass
class Inbox:
    refuse: set[str] = field(default_factory=set)
    received: list[tuple[str, list[str], EmailMessage]] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 OK"

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            USER.encode(),
            PASSWORD.encode(),
        )
        self.logins.append(f"{mechanism}:{'ok' if ok else 'refused'}")
        return AuthResult(success=ok, handled=False)


@dataclass(frozen=True)
class Cert:
    cert: Path
    key: Path

    def server_context(self) -> Any:
        import ssl

        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context


def self_signed_cert(folder: Path) -> Cert:
    """A throwaway self-signed certificate for 127.0.0.1 / localhost, written into `folder`."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    (folder / "cert.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return Cert(folder / "cert.pem", folder / "key.pem")


@contextmanager
def smtp_server(
    *, mode: str = "none", cert: Cert | None = None, refuse: set[str] | None = None
) -> Iterator[tuple[Inbox, int]]:
    """mode: none (plain, no login), starttls (TLS required, login required), ssl."""
    inbox = Inbox(refuse=refuse or set())
    port = free_port()
    kwargs: dict[str, Any] = {}
    if mode == "starttls":
        assert cert is not None
        kwargs = {
            "tls_context": cert.server_context(),
            "require_starttls": True,
            "authenticator": inbox.authenticate,
            "auth_required": True,
        }
    elif mode == "ssl":
        assert cert is not None
        kwargs = {
            "ssl_context": cert.server_context(),
            "authenticator": inbox.authenticate,
            "auth_required": True,
            "auth_require_tls": False,  # aiosmtpd only counts STARTTLS as TLS; this is TLS
        }
    controller = Controller(inbox, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def parts(message: EmailMessage) -> tuple[str, str, dict[str, bytes]]:
    plain = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert plain is not None and html is not None
    attachments = {
        str(a.get_filename()): a.get_payload(decode=True) for a in message.iter_attachments()
    }
    return str(plain.get_content()), str(html.get_content()), attachments  # type: ignore[misc]


def smtp_env(
    settings: Settings, port: int, security: str = "none", **more: str | None
) -> dict[str, str | None]:
    """The environment of an email command over `settings`' warehouse that sends to the
    loopback server on `port`, with nothing else of the caller's environment leaking in."""
    return {
        "VATS_DB": str(settings.db_path),
        "VATS_TZ": "Europe/Moscow",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(port),
        "SMTP_SECURITY": security,
        "SMTP_USER": None,
        "SMTP_PASSWORD": None,
        "SMTP_CA_FILE": None,
        "VATS_EMAIL_ROUTING": None,
        "VATS_DASHBOARD_URL": None,
        "REPORT_FROM": "ВАТС отчёты <reports@example.ru>",
        "REPORT_TO": "ops@example.ru",
        **more,
    }


def smtp_settings(settings: Settings, port: int) -> Settings:
    """`settings` sending in the clear to the loopback server on `port` (for flows)."""
    return settings.replace(
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_security="none",
        report_from="reports@example.ru",
        report_to=("ops@example.ru",),
    )
