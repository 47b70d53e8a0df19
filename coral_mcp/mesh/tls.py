"""gRPC TLS credentials pinned to the colony key (no public CA is ever trusted).

The agent trusts exactly one certificate: the colony's self-signed one, checked at
join time against the Ed25519 key in the token. The colony trusts exactly the client
certificates it issued itself; the name in them is the agent's identity.
"""

from __future__ import annotations

import functools

import grpc

from coral_mcp.mesh.keys_names import COLONY_TLS_NAME

#: Channel options that make gRPC check the colony's certificate for its fixed name.
CLIENT_OPTIONS = (("grpc.ssl_target_name_override", COLONY_TLS_NAME),)


def client_credentials(
    colony_cert_pem: bytes, key_pem: bytes | None = None, cert_pem: bytes | None = None
) -> grpc.ChannelCredentials:
    return grpc.ssl_channel_credentials(
        root_certificates=colony_cert_pem, private_key=key_pem, certificate_chain=cert_pem
    )


def server_credentials(
    key_pem: bytes, cert_pem: bytes, *, require_client_cert: bool
) -> grpc.ServerCredentials:
    return grpc.ssl_server_credentials(
        [(key_pem, cert_pem)],
        root_certificates=cert_pem if require_client_cert else None,
        require_client_auth=require_client_cert,
    )


def client_cert_name(context: grpc.aio.ServicerContext[object, object]) -> str | None:
    """The common name of the verified client certificate of this call, if any."""
    names = list(context.auth_context().get("x509_common_name", ()))
    return names[0].decode() if names else None


def client_cert_key(context: grpc.aio.ServicerContext[object, object]) -> bytes | None:
    """The public key (SubjectPublicKeyInfo, DER) of this call's client certificate."""
    pems = list(context.auth_context().get("x509_pem_cert", ()))
    return _spki(pems[0]) if pems else None


@functools.lru_cache(maxsize=1024)
def _spki(pem: bytes) -> bytes | None:
    # cryptography is imported here: the lean agent imports this module too.
    from cryptography import x509  # noqa: PLC0415
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415

    try:
        cert = x509.load_pem_x509_certificate(pem)
    except ValueError:
        return None
    return cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
