"""A throw-away certificate authority for local https endpoints.

Function code reaches API Gateway's connection-management API at `https://{domainName}/{stage}`
(Chalice's `app.websocket_api` too), so the local server must speak TLS on 127.0.0.1 and
boto3 must trust it without a local-only switch in the function. `LocalTls.create()` makes
a CA and a server certificate for 127.0.0.1 / localhost / ::1 in a temporary folder, and a
CA bundle = the bundle botocore would use anyway (AWS_CA_BUNDLE if set, else certifi's) +
this CA; the runtime exports it as AWS_CA_BUNDLE for its own life. Real AWS endpoints stay
verified against the usual roots; nothing outside this process trusts the CA.
"""
from __future__ import annotations

import datetime as dt
import ipaddress
import os
import shutil
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path

HOSTS = ("localhost",)
IPS = ("127.0.0.1", "::1")


@dataclass
class LocalTls:
    folder: Path
    cert_file: Path      # server certificate followed by the CA certificate
    key_file: Path
    ca_file: Path
    ca_bundle: Path      # what AWS_CA_BUNDLE should point at

    @classmethod
    def create(cls, base_bundle: str | None = None) -> LocalTls:
        # Imported here: only runtimes serving a WebSocket API need it (cryptography is a
        # dependency of the layer anyway).
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

        now = dt.datetime.now(dt.UTC)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hospital local runtime CA")])
        ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
        ca_cert = (
            x509.CertificateBuilder()
            .subject_name(ca_name).issuer_name(ca_name)
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(ca_ski, critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        key = ec.generate_private_key(ec.SECP256R1())
        san = [x509.DNSName(h) for h in HOSTS] + [x509.IPAddress(ipaddress.ip_address(i)) for i in IPS]
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                         crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectAlternativeName(san), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
            .sign(ca_key, hashes.SHA256())
        )

        folder = Path(tempfile.mkdtemp(prefix="local-runtime-tls-"))
        pem = serialization.Encoding.PEM
        ca_pem = ca_cert.public_bytes(pem)
        (folder / "ca.pem").write_bytes(ca_pem)
        (folder / "server.pem").write_bytes(cert.public_bytes(pem) + ca_pem)
        key_file = folder / "server.key"
        key_file.write_bytes(key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        os.chmod(key_file, 0o600)
        base_path = Path(base_bundle) if base_bundle and Path(base_bundle).is_file() else Path(default_ca_bundle())
        base = base_path.read_bytes()
        (folder / "bundle.pem").write_bytes(base.rstrip(b"\n") + b"\n" + ca_pem)
        return cls(folder, folder / "server.pem", key_file, folder / "ca.pem", folder / "bundle.pem")

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(self.cert_file, self.key_file)
        return ctx

    def client_context(self) -> ssl.SSLContext:
        """For tests and tools: a client context that trusts the local CA."""
        return ssl.create_default_context(cafile=str(self.ca_file))

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def default_ca_bundle() -> str:
    """The CA bundle botocore verifies against when AWS_CA_BUNDLE is not set."""
    from botocore.httpsession import get_cert_path

    return get_cert_path(True)
