"""Builders and checks shared by the Nebula tests."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from pathlib import Path

import yaml
from cryptography.hazmat.primitives.asymmetric import x25519
from django.urls import reverse

from credentials.codecs import nebulacert as nc
from credentials.models import CertificateAuthority, Host, Network
from credentials.secrets import VERSION, seal
from credentials.services import nebula as svc

#: Generated private keys, and sealed secrets as stored in the database.
SECRET_MARKERS = ("PRIVATE KEY", f"{VERSION}:")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def ca_of(org) -> CertificateAuthority:
    return CertificateAuthority.objects.get(organization=org, active=True)


def replace_ca_certificate(ca: CertificateAuthority, not_before, not_after) -> CertificateAuthority:
    """Give the CA a new certificate and key with these dates (the service never mints past dates)."""
    cert, key = nc.create_ca(ca.name, not_before, not_after, version=ca.version)
    ca.certificate = cert.to_pem()
    seal(ca, "key", nc.ed25519_private_key_to_pem(key))
    ca.fingerprint = cert.fingerprint()
    ca.not_before, ca.not_after = cert.not_before_dt, cert.not_after_dt
    ca.save()
    return ca


def make_network(org, name: str | None = None, cidr: str = "10.42.0.0/24", **fields) -> Network:
    return svc.create_network(organization=org, name=name or unique("mesh"), cidr=cidr, **fields)


def network_of(org) -> Network:
    """The organization's first network, created on first use."""
    return Network.objects.filter(organization=org).first() or make_network(org)


def make_host(org_or_network, hostname: str | None = None, **fields) -> Host:
    network = org_or_network if isinstance(org_or_network, Network) else network_of(org_or_network)
    return svc.create_host(network=network, hostname=hostname or unique("host"), **fields)


def make_lighthouse(network: Network, hostname: str = "lighthouse", port: int = 4242, **fields) -> Host:
    return make_host(network, hostname, is_lighthouse=True, public_host_port=f"203.0.113.10:{port}", **fields)


def reload(obj):
    return type(obj).objects.get(pk=obj.pk)


def config_of(host: Host) -> dict:
    return yaml.safe_load(svc.render_config(reload(host)))


def public_key_pem(public: bytes) -> str:
    """A device's public key as `nebula-cert keygen` writes it."""
    return nc.pem_encode(nc.X25519_PUBLIC_BANNER, public)


ED25519_PUBLIC_PEM = nc.pem_encode("NEBULA ED25519 PUBLIC KEY", b"\x01" * 32)


def assert_key_pair(cert: nc.NebulaCertificate, private: bytes | str) -> None:
    """The host certificate carries the public half of this X25519 private key (raw or PEM)."""
    if isinstance(private, str):
        [(banner, private)] = nc.parse_pem(private)
        assert banner == nc.X25519_PRIVATE_BANNER
    assert x25519.X25519PrivateKey.from_private_bytes(private).public_key().public_bytes_raw() == cert.public_key


def verify(cert: nc.NebulaCertificate, ca_pem: str) -> nc.NebulaCertificate:
    """Check the certificate as a peer trusting the CA certificate(s) in `ca_pem` would."""
    return nc.CAPool(nc.load_certificates(ca_pem)).verify(cert)


def url(name: str, world, *args, slug: str | None = None) -> str:
    return reverse(f"nebula-api:{name}", args=[slug or world.org.slug, *args])


# --- Real nebula binaries ----------------------------------------------------------------------------------------


def binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise AssertionError(
            f"`{name}` is not installed: the Nebula integration tests need Debian's nebula package "
            "(`apt-get install -y nebula`; `make test` installs it)."
        )
    return path


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([binary(args[0]), *args[1:]], capture_output=True, text=True, timeout=60)


def write(directory: Path, name: str, content: str) -> Path:
    path = directory / name
    path.write_text(content)
    return path
