"""Key material of the mesh: the colony's identity, agents' keys and certificates.

The colony has three keys, made once by `coral colony init` and never regenerated:
- an Ed25519 signing key: its public half *is* the colony's identity. Join tokens pin
  it, discovery records are signed with it;
- a P-256 TLS key with a self-signed certificate (gRPC's TLS cannot use Ed25519). The
  certificate carries an Ed25519 signature of its own public key, so an agent that
  pins the Ed25519 key can check the TLS key belongs to the same colony;
- a WireGuard (X25519) key pair.

The TLS certificate is also the authority for agents' client certificates (the
tunnel-less path): the colony signs each joined agent's TLS key with its name in it.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Network
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, x25519
from cryptography.x509.oid import NameOID

from coral_mcp.errors import DataDirError
from coral_mcp.mesh.errors import PinMismatchError
from coral_mcp.mesh.files import read_json, write_private_json
from coral_mcp.mesh.keys_names import COLONY_TLS_NAME

MESH_DIR = "mesh"
IDENTITY_FILE = "colony-identity.json"
#: A private extension holding the Ed25519 signature of the certificate's public key.
BINDING_OID = x509.ObjectIdentifier("1.3.6.1.4.1.59999.7.1")
CERT_LIFETIME = timedelta(days=3650)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def fingerprint(colony_key: bytes) -> str:
    """How a person compares colony keys: SHA256:<base64 of the key's hash>."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(colony_key).digest()).decode().rstrip("=")


def new_wg_keypair() -> tuple[str, str]:
    """A WireGuard key pair, (private, public), base64 as `wg` prints them."""
    key = x25519.X25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return b64(private), b64(public)


def new_tls_key() -> tuple[bytes, bytes]:
    """A P-256 key: (private key PEM, public key SubjectPublicKeyInfo DER)."""
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    spki = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem, spki


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _colony_cert(tls_key: ec.EllipticCurvePrivateKey, signing: ed25519.Ed25519PrivateKey) -> bytes:
    spki = tls_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(COLONY_TLS_NAME))
        .issuer_name(_name(COLONY_TLS_NAME))
        .public_key(tls_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + CERT_LIFETIME)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(COLONY_TLS_NAME)]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), True)
        .add_extension(x509.UnrecognizedExtension(BINDING_OID, signing.sign(spki)), False)
        .sign(tls_key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def verify_colony_cert(cert_pem: bytes, colony_key: bytes) -> None:
    """Check that the TLS certificate was bound to the pinned Ed25519 colony key."""
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
        spki = cert.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        binding = cert.extensions.get_extension_for_oid(BINDING_OID).value
        assert isinstance(binding, x509.UnrecognizedExtension)
        ed25519.Ed25519PublicKey.from_public_bytes(colony_key).verify(binding.value, spki)
    except (ValueError, x509.ExtensionNotFound, InvalidSignature) as exc:
        raise PinMismatchError(
            f"the colony's certificate is not signed by the pinned key {fingerprint(colony_key)}"
            f" ({type(exc).__name__})",
            hint="the endpoint is not the colony the token names: check the address",
        ) from None


def verify_signature(colony_key: bytes, signature: bytes, data: bytes) -> bool:
    try:
        ed25519.Ed25519PublicKey.from_public_bytes(colony_key).verify(signature, data)
    except (InvalidSignature, ValueError):
        return False
    return True


@dataclass(frozen=True, slots=True)
class ColonyIdentity:
    """Everything `coral colony init` makes; read by the colony daemon and token commands."""

    mesh_id: str
    subnet: IPv4Network
    signing_key: ed25519.Ed25519PrivateKey
    tls_key_pem: bytes
    tls_cert_pem: bytes
    wg_private_key: str
    wg_public_key: str
    #: Addresses (host names or IPs) at which agents can reach this colony.
    endpoints: tuple[str, ...]

    @property
    def colony_key(self) -> bytes:
        """The Ed25519 public key, raw 32 bytes: what tokens pin."""
        return self.signing_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.colony_key)

    @property
    def mesh_address(self) -> str:
        """The colony's own address in the mesh: the subnet's first host."""
        return str(self.subnet.network_address + 1)

    def sign(self, data: bytes) -> bytes:
        return self.signing_key.sign(data)

    def issue_agent_cert(self, agent_id: str, agent_spki: bytes) -> bytes:
        """A client certificate naming `agent_id` for the agent's TLS key (PEM)."""
        issuer = serialization.load_pem_private_key(self.tls_key_pem, None)
        assert isinstance(issuer, ec.EllipticCurvePrivateKey)
        public = serialization.load_der_public_key(agent_spki)
        if not isinstance(public, ec.EllipticCurvePublicKey):
            raise ValueError("the agent's TLS key must be an EC key")
        now = datetime.now(UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(agent_id))
            .issuer_name(_name(COLONY_TLS_NAME))
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + CERT_LIFETIME)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(agent_id)]), False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
            .sign(issuer, hashes.SHA256())
        )
        return cert.public_bytes(serialization.Encoding.PEM)

    @classmethod
    def create(
        cls, mesh_id: str, subnet: IPv4Network, endpoints: tuple[str, ...]
    ) -> ColonyIdentity:
        signing = ed25519.Ed25519PrivateKey.generate()
        tls_key = ec.generate_private_key(ec.SECP256R1())
        tls_pem = tls_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        wg_private, wg_public = new_wg_keypair()
        return cls(
            mesh_id,
            subnet,
            signing,
            tls_pem,
            _colony_cert(tls_key, signing),
            wg_private,
            wg_public,
            endpoints,
        )

    def save(self, data_dir: Path) -> Path:
        path = data_dir / MESH_DIR / IDENTITY_FILE
        signing = self.signing_key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        write_private_json(
            path,
            {
                "mesh_id": self.mesh_id,
                "subnet": str(self.subnet),
                "signing_key": b64(signing),
                "tls_key_pem": self.tls_key_pem.decode(),
                "tls_cert_pem": self.tls_cert_pem.decode(),
                "wg_private_key": self.wg_private_key,
                "wg_public_key": self.wg_public_key,
                "endpoints": list(self.endpoints),
            },
        )
        return path

    @classmethod
    def load(cls, data_dir: Path) -> ColonyIdentity | None:
        """The colony's identity, or None when `coral colony init` was never run."""
        path = data_dir / MESH_DIR / IDENTITY_FILE
        raw = read_json(path, "colony identity")
        if raw is None:
            return None
        try:
            return cls(
                str(raw["mesh_id"]),
                IPv4Network(raw["subnet"]),
                ed25519.Ed25519PrivateKey.from_private_bytes(base64.b64decode(raw["signing_key"])),
                str(raw["tls_key_pem"]).encode(),
                str(raw["tls_cert_pem"]).encode(),
                str(raw["wg_private_key"]),
                str(raw["wg_public_key"]),
                tuple(str(e) for e in raw["endpoints"]),
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise DataDirError(
                f"the colony identity {path} is damaged: {exc}",
                hint="restore it from a backup; a new identity means every agent re-joins",
            ) from None
