"""Proof with the real binaries (Debian's nebula 1.6.1): `nebula-cert` accepts the certificates we issue and
`nebula -test` accepts the configs we render. Missing binaries fail these tests with the install command.

nebula 1.6 reads only v1 certificates, which is why new CAs are v1; v2 certificates are checked with our own
decoder and verifier (tests/codecs and test_nebula_models), not here.
"""

import json
from datetime import UTC, timedelta
from pathlib import Path

import pytest
import yaml
from django.core.exceptions import ValidationError
from django.utils import timezone

from credentials.codecs import nebulacert as nc
from credentials.services import nebula as svc
from tests.credentials.nebula_support import (
    ca_of,
    make_host,
    make_lighthouse,
    make_network,
    reload,
    replace_ca_certificate,
    run,
    verify,
    write,
)

pytestmark = [pytest.mark.django_db, pytest.mark.integration]


def nebula_cert_verify(tmp_path: Path, ca_pem: str, cert_pem: str) -> tuple[bool, str]:
    ca = write(tmp_path, "ca.crt", ca_pem)
    crt = write(tmp_path, "host.crt", cert_pem)
    result = run("nebula-cert", "verify", "-ca", str(ca), "-crt", str(crt))
    return result.returncode == 0, (result.stdout + result.stderr).strip()


def nebula_cert_print(tmp_path: Path, cert_pem: str) -> dict:
    result = run("nebula-cert", "print", "-json", "-path", str(write(tmp_path, "print.crt", cert_pem)))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def nebula_test(tmp_path: Path, host) -> None:
    """`nebula -test` loads the config (certificate, key pair, CA bundle, blocklist, firewall, tun, lighthouse)."""
    config = write(tmp_path, f"{host.hostname}.yml", svc.render_config(reload(host)))
    result = run("nebula", "-test", "-config", str(config))
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"nebula -test refused {host.hostname}:\n{output}"
    assert "level=error" not in output and "level=fatal" not in output, output


def go_time(value) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def mesh(world):
    network = make_network(world.org, cidr="10.42.0.0/24")
    lighthouse = make_lighthouse(network, "lighthouse-1")
    relay = make_host(network, "relay-1", is_relay=True, public_host_port="198.51.100.7:4243", groups=["relay"])
    plain = make_host(
        network,
        "web-01",
        groups=["web", "ssh"],
        unsafe_networks=["192.168.50.0/24"],
        unsafe_routes=[{"route": "192.168.60.0/24", "via": relay.overlay_ip}],
        firewall_inbound=[
            {"port": 22, "proto": "tcp", "groups": ["admin"]},
            {"port": "any", "proto": "icmp", "host": "any"},
        ],
        firewall_outbound=[{"port": "443", "proto": "tcp", "cidr": "0.0.0.0/0"}],
    )
    return {"lighthouse": lighthouse, "relay": relay, "plain": plain}


# --- Certificates -------------------------------------------------------------------------------------------------


def test_nebula_cert_verifies_and_prints_every_certificate_we_issue(world, mesh, tmp_path):
    ca = ca_of(world.org)
    _, device_public = nc.generate_host_keypair()
    device = make_host(mesh["plain"].network, "sensor-1", public_key=device_public.hex())
    for host in (*mesh.values(), device):
        host = reload(host)
        ok, output = nebula_cert_verify(tmp_path, ca.certificate, host.certificate)
        assert ok, f"{host.hostname}: {output}"
        printed = nebula_cert_print(tmp_path, host.certificate)
        details = printed["details"]
        assert printed["fingerprint"] == host.fingerprint
        assert details["name"] == host.hostname
        assert details["ips"] == [f"{host.overlay_ip}/24"]
        assert details["groups"] == host.groups
        assert details["subnets"] == host.unsafe_networks
        assert details["isCa"] is False
        assert details["issuer"] == ca.fingerprint == host.issuer_fingerprint
        assert details["publicKey"] == host.public_key
        assert details["notBefore"] == go_time(host.not_before)
        assert details["notAfter"] == go_time(host.not_after)
    printed_ca = nebula_cert_print(tmp_path, ca.certificate)
    assert printed_ca["fingerprint"] == ca.fingerprint and printed_ca["details"]["isCa"] is True


def test_nebula_cert_refuses_another_organizations_ca(world, tmp_path):
    host = make_host(world.org)
    ok, output = nebula_cert_verify(tmp_path, ca_of(world.other_org).certificate, host.certificate)
    assert not ok and "could not find ca for the certificate" in output
    with pytest.raises(nc.NebulaCertError, match="could not find ca for the certificate"):
        verify(nc.load_certificate(host.certificate), ca_of(world.other_org).certificate)


def test_nebula_cert_refuses_an_expired_certificate(world, tmp_path):
    now = timezone.now()
    ca = replace_ca_certificate(ca_of(world.org), now - timedelta(days=30), now + timedelta(days=365))
    network = make_network(world.org)
    host = make_host(network, validity_days=1)
    svc.issue_certificate(reload(host), now=now - timedelta(days=10))
    host = reload(host)
    assert host.not_after < now
    ok, output = nebula_cert_verify(tmp_path, ca.certificate, host.certificate)
    assert not ok and "certificate is expired" in output
    with pytest.raises(ValidationError, match="certificate is expired"):
        svc.verify_host(host)


def test_our_verifier_refuses_a_blocklisted_certificate(world, tmp_path):
    """nebula-cert verify has no blocklist option; the running nebula uses pki.blocklist, and so do we."""
    host = make_host(world.org)
    ok, _ = nebula_cert_verify(tmp_path, ca_of(world.org).certificate, host.certificate)
    assert ok  # the signature and dates are fine: only the blocklist stops it
    svc.deactivate_host(host)
    with pytest.raises(ValidationError, match="certificate is in the block list"):
        svc.verify_host(reload(host))


def test_a_rekeyed_certificate_verifies_and_the_old_one_is_on_the_blocklist(world, mesh, tmp_path):
    host = reload(mesh["plain"])
    old_pem = host.certificate
    rekeyed = svc.rekey_host(host)
    ca = ca_of(world.org)
    ok, output = nebula_cert_verify(tmp_path, ca.certificate, rekeyed.certificate)
    assert ok, output
    assert nebula_cert_print(tmp_path, rekeyed.certificate)["details"]["publicKey"] == rekeyed.public_key
    old_fingerprint = nebula_cert_print(tmp_path, old_pem)["fingerprint"]
    for peer in (rekeyed, mesh["lighthouse"], mesh["relay"]):
        blocklist = yaml.safe_load(svc.render_config(reload(peer)))["pki"]["blocklist"]
        assert blocklist == [old_fingerprint], peer.hostname
    nebula_test(tmp_path, rekeyed)  # the new private key pairs with the new certificate
    nebula_test(tmp_path, mesh["lighthouse"])


# --- Configs ------------------------------------------------------------------------------------------------------


def test_nebula_accepts_the_config_of_a_plain_host_a_lighthouse_and_a_relay(mesh, tmp_path):
    for host in mesh.values():
        nebula_test(tmp_path, host)


def test_nebula_accepts_a_config_with_a_blocklist(world, mesh, tmp_path):
    network = mesh["plain"].network
    for _ in range(2):
        svc.deactivate_host(make_host(network))
    make_host(network).delete()
    assert len(svc.blocklist(ca_of(world.org))) == 3
    assert "blocklist:" in svc.render_config(reload(mesh["plain"]))
    nebula_test(tmp_path, mesh["plain"])
    nebula_test(tmp_path, mesh["lighthouse"])


def test_nebula_accepts_configs_through_a_ca_rotation(world, mesh, tmp_path):
    ca = svc.rotate_ca(ca_of(world.org), "prepare").ca
    assert len(nc.load_certificates(ca.bundle)) == 2
    for host in (mesh["plain"], mesh["lighthouse"]):
        nebula_test(tmp_path, host)
    old_ca = ca.certificate

    ca = svc.rotate_ca(ca, "commit").ca
    assert ca.bundle == old_ca + ca.certificate
    for host in (mesh["plain"], mesh["relay"]):
        host = reload(host)
        assert host.issuer_fingerprint == ca.fingerprint
        nebula_test(tmp_path, host)
        ok, output = nebula_cert_verify(tmp_path, ca.bundle, host.certificate)
        assert ok, output
        ok, output = nebula_cert_verify(tmp_path, old_ca, host.certificate)
        assert not ok and "could not find ca" in output

    ca = svc.rotate_ca(ca, "finish").ca
    nebula_test(tmp_path, mesh["plain"])


def test_nebula_accepts_a_config_with_a_device_held_key(world, mesh, tmp_path):
    keygen = run(
        "nebula-cert", "keygen", "-out-key", str(tmp_path / "device.key"), "-out-pub", str(tmp_path / "device.pub")
    )
    assert keygen.returncode == 0, keygen.stderr
    host = make_host(
        mesh["plain"].network,
        "sensor-2",
        public_key=(tmp_path / "device.pub").read_text(),
        key_path=str(tmp_path / "device.key"),
    )
    assert host.key_source == "device" and host.private_key == ""
    config = svc.render_config(reload(host))
    assert f"key: {tmp_path / 'device.key'}" in config and "PRIVATE KEY" not in config
    nebula_test(tmp_path, host)

    # The same config with another device's key is refused: nebula checks the key pair.
    other = run("nebula-cert", "keygen", "-out-key", str(tmp_path / "device.key"), "-out-pub", str(tmp_path / "x.pub"))
    assert other.returncode == 0
    result = run("nebula", "-test", "-config", str(write(tmp_path, "mismatch.yml", config)))
    assert result.returncode != 0
    assert "private key is not a pair with public key in nebula cert" in result.stdout + result.stderr
