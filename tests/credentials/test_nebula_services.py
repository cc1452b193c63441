"""Nebula domain actions: certificates, device keys, configs, revocation, renewal, CA rotation and expiry."""

import base64
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from audit.models import AuditEvent
from credentials.codecs import nebulacert as nc
from credentials.models import CertificateAuthority, RevokedCertificate
from credentials.secrets import VERSION, reveal
from credentials.services import nebula as svc
from stoneage import health
from tests.credentials.nebula_support import (
    ED25519_PUBLIC_PEM,
    assert_key_pair,
    ca_of,
    config_of,
    make_host,
    make_lighthouse,
    make_network,
    public_key_pem,
    reload,
    replace_ca_certificate,
    verify,
)

pytestmark = pytest.mark.django_db


def cert_of(host) -> nc.NebulaCertificate:
    return nc.load_certificate(reload(host).certificate)


def shift(host, **fields):
    """Move a host's certificate dates in the database (the certificate itself is unchanged)."""
    type(host).objects.filter(pk=host.pk).update(**fields)
    return reload(host)


# --- Certificates -------------------------------------------------------------------------------------------------


def test_host_certificate_carries_its_identity(world):
    network = make_network(world.org, cidr="10.42.0.0/24")
    host = make_host(network, "web-01", groups=["web", "ssh"], unsafe_networks=["192.168.7.0/24"])
    cert = cert_of(host)
    ca = ca_of(world.org)
    assert cert.name == "web-01" and not cert.is_ca and cert.version == 1
    assert [str(n) for n in cert.networks] == ["10.42.0.1/24"]
    assert [str(n) for n in cert.unsafe_networks] == ["192.168.7.0/24"]
    assert cert.groups == ["web", "ssh"]
    assert cert.issuer == ca.fingerprint == host.issuer_fingerprint
    assert cert.fingerprint() == host.fingerprint
    assert (host.not_before, host.not_after) == (cert.not_before_dt, cert.not_after_dt)
    assert timedelta(days=364) < host.not_after - timezone.now() <= timedelta(days=365)
    verify(cert, ca.certificate)


def test_generated_key_is_x25519_encrypted_at_rest_and_matches_the_certificate(world):
    host = make_host(world.org)
    assert host.key_source == "generated"
    assert host.private_key.startswith(f"{VERSION}:") and "PRIVATE" not in host.private_key
    assert_key_pair(cert_of(host), reveal(host, "private_key"))
    assert cert_of(host).public_key.hex() == host.public_key


def test_certificate_lifetime_is_capped_by_the_ca(world):
    ca = ca_of(world.org)
    host = make_host(world.org, validity_days=3650)
    assert reload(host).not_after == ca.not_after


# --- Device-held keys ---------------------------------------------------------------------------------------------


def device_keypair():
    private, public = nc.generate_host_keypair()
    return private, public_key_pem(public)


def test_device_supplied_key_is_signed_and_never_stored_privately(world, settings):
    settings.NEBULA_DEVICE_KEY_PATH = "/var/lib/nebula/host.key"
    private, public_pem = device_keypair()
    host = make_host(world.org, public_key=public_pem)
    assert host.key_source == "device" and host.private_key == ""
    assert_key_pair(cert_of(host), private)
    config = config_of(host)
    assert config["pki"]["key"] == "/var/lib/nebula/host.key"
    assert "PRIVATE KEY" not in svc.render_config(reload(host))
    svc.update_host(host, key_path="/tmp/device.key")
    assert config_of(host)["pki"]["key"] == "/tmp/device.key"


@pytest.mark.parametrize("encode", [bytes.hex, lambda pub: base64.b64encode(pub).decode()])
def test_device_key_may_be_raw_hex_or_base64(world, encode):
    _, public = nc.generate_host_keypair()
    assert make_host(world.org, public_key=encode(public)).public_key == public.hex()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (ED25519_PUBLIC_PEM, "Ed25519"),
        (nc.x25519_private_key_to_pem(b"\x02" * 32), "private key"),
        ("AAAA", "32 bytes"),
        ("not a key!", "neither"),
    ],
)
def test_bad_device_keys_are_refused_with_the_reason(world, value, message):
    with pytest.raises(ValidationError) as exc:
        make_host(world.org, public_key=value)
    assert message in exc.value.message_dict["public_key"][0]


# --- Configs ------------------------------------------------------------------------------------------------------


def test_config_of_a_plain_host(world):
    network = make_network(world.org)
    lighthouse = make_lighthouse(network)
    host = make_host(network, "web-01", firewall_inbound=[{"port": 22, "proto": "tcp", "group": "admin"}])
    config = config_of(host)
    ca = ca_of(world.org)
    assert config["pki"]["ca"] == ca.certificate
    assert config["pki"]["cert"] == reload(host).certificate
    assert config["pki"]["key"] == reveal(reload(host), "private_key")
    assert "blocklist" not in config["pki"]
    assert config["lighthouse"] == {"am_lighthouse": False, "interval": 60, "hosts": [lighthouse.overlay_ip]}
    assert config["static_host_map"] == {lighthouse.overlay_ip: ["203.0.113.10:4242"]}
    assert config["listen"] == {"host": "0.0.0.0", "port": 0}  # noqa: S104
    assert config["punchy"] == {"punch": True, "respond": True}
    assert "relay" not in config
    assert config["tun"]["dev"] == "nebula1" and config["tun"]["mtu"] == 1300
    assert config["firewall"]["inbound"] == [{"port": 22, "proto": "tcp", "group": "admin"}]
    assert config["firewall"]["outbound"] == [{"port": "any", "proto": "any", "host": "any"}]
    assert config["logging"] == {"level": "info", "format": "text"}


def test_config_of_lighthouses_and_relays(world):
    network = make_network(world.org)
    lighthouse = make_lighthouse(network, port=4343)
    relay = make_host(network, "relay", is_relay=True, public_host_port="198.51.100.7:4244", listen_port=4245)
    inactive = make_lighthouse(network, "old-lighthouse")
    svc.deactivate_host(inactive)
    plain = make_host(network, unsafe_routes=[{"route": "192.168.9.0/24", "via": relay.overlay_ip}])

    lh_config = config_of(lighthouse)
    assert lh_config["lighthouse"] == {"am_lighthouse": True}
    assert "static_host_map" not in lh_config
    assert lh_config["listen"]["port"] == 4343
    assert lh_config["relay"] == {"relays": [relay.overlay_ip]}

    relay_config = config_of(relay)
    assert relay_config["relay"] == {"am_relay": True}
    assert relay_config["listen"]["port"] == 4245

    plain_config = config_of(plain)
    assert plain_config["lighthouse"]["hosts"] == [lighthouse.overlay_ip]
    assert plain_config["relay"] == {"relays": [relay.overlay_ip]}
    assert plain_config["tun"]["unsafe_routes"] == [{"route": "192.168.9.0/24", "via": relay.overlay_ip}]


def test_config_download_is_audited_and_refused_for_deactivated_hosts(world):
    host = make_host(world.org)
    svc.download_config(host)
    event = AuditEvent.objects.get(action="credential_read", object_type="credentials.host")
    assert event.object_id == str(host.pk) and event.organization_id == world.org.pk
    assert event.extra["kind"] == "nebula.config"
    assert "PRIVATE" not in str(event.extra) and "PRIVATE" not in str(event.after)
    svc.deactivate_host(host)
    with pytest.raises(ValidationError):
        svc.download_config(reload(host))
    assert AuditEvent.objects.filter(action="credential_read").count() == 1


def test_audit_log_never_holds_private_keys(world):
    host = make_host(world.org)
    events = AuditEvent.objects.filter(object_type__startswith="credentials.")
    assert events.filter(object_type="credentials.host").exists()
    dump = " ".join(str((e.before, e.after, e.extra)) for e in events)
    assert reveal(host, "private_key") not in dump
    assert reveal(ca_of(world.org), "key") not in dump


# --- Revocation ---------------------------------------------------------------------------------------------------


def test_deactivation_blocks_the_certificate_in_every_peers_config(world):
    network = make_network(world.org)
    other_network = make_network(world.org, cidr="10.43.0.0/24")  # same CA: its hosts must refuse it too
    peers = [make_host(network), make_lighthouse(network), make_host(other_network)]
    victim = make_host(network)
    fingerprint = victim.fingerprint
    svc.deactivate_host(victim)
    victim = reload(victim)
    assert not victim.active
    revocation = RevokedCertificate.objects.get(fingerprint=fingerprint)
    assert revocation.reason == "deactivated" and revocation.not_after == victim.not_after
    for peer in peers:
        assert config_of(peer)["pki"]["blocklist"] == [fingerprint]
    with pytest.raises(ValidationError) as exc:
        svc.verify_host(victim)
    assert "certificate is in the block list" in exc.value.message_dict["certificate"][0]
    # Another organization's hosts are not affected.
    assert "blocklist" not in config_of(make_host(world.other_org))


def test_reactivation_issues_a_new_certificate_and_the_old_stays_blocked(world, monkeypatch):
    frozen = timezone.now()
    monkeypatch.setattr(svc, "_now", lambda: frozen)  # all in one second: signing alone would repeat itself
    host = make_host(world.org)
    old = host.fingerprint
    svc.deactivate_host(host)
    host = svc.reactivate_host(host)
    assert host.active and host.fingerprint != old
    assert config_of(make_host(world.org))["pki"]["blocklist"] == [old]
    svc.verify_host(host)


def key_pair_of(host):
    """The host's private key as stored, and whether it pairs with the certificate."""
    host = reload(host)
    cert = nc.load_certificate(host.certificate)
    private = reveal(host, "private_key")
    assert_key_pair(cert, private)
    assert cert.public_key.hex() == host.public_key
    return private


def test_reactivation_replaces_a_generated_key_pair(world):
    peer = make_host(world.org)
    host = make_host(world.org)
    old_key, old_fingerprint = key_pair_of(host), host.fingerprint
    svc.deactivate_host(host)
    host = svc.reactivate_host(host)
    assert host.active and key_pair_of(host) != old_key and host.fingerprint != old_fingerprint
    assert config_of(peer)["pki"]["blocklist"] == [old_fingerprint]
    svc.verify_host(host)

    svc.deactivate_host(host)
    kept = svc.reactivate_host(host, rekey=False)
    assert kept.public_key == host.public_key and key_pair_of(kept) == key_pair_of(host)


def test_reactivation_keeps_a_device_held_key(world):
    _, public_pem = device_keypair()
    host = svc.deactivate_host(make_host(world.org, public_key=public_pem))
    with pytest.raises(ValidationError) as exc:
        svc.reactivate_host(host, rekey=True)
    assert "held by the device" in exc.value.message_dict["key_source"][0]
    assert not reload(host).active
    host = svc.reactivate_host(host)
    assert host.active and host.public_key == reload(host).public_key and host.private_key == ""


def test_rekey_issues_a_new_key_pair_and_blocks_the_old_certificate(world):
    peer = make_host(world.org)
    host = make_host(world.org, groups=["web"])
    old_key, old = key_pair_of(host), reload(host)
    rekeyed = svc.rekey_host(host)
    new_key = key_pair_of(rekeyed)
    assert new_key != old_key and rekeyed.public_key != old.public_key
    assert rekeyed.fingerprint != old.fingerprint and rekeyed.active
    assert cert_of(rekeyed).groups == ["web"] and rekeyed.overlay_ip == old.overlay_ip
    revocation = RevokedCertificate.objects.get(fingerprint=old.fingerprint)
    assert revocation.reason == "rekeyed" and revocation.ca == ca_of(world.org)
    assert revocation.not_after == old.not_after
    assert config_of(peer)["pki"]["blocklist"] == [old.fingerprint]
    assert config_of(rekeyed)["pki"]["blocklist"] == [old.fingerprint]
    svc.verify_host(rekeyed)

    # Audited: the host's new key and certificate, and the revocation, without any private key.
    update = AuditEvent.objects.filter(action="update", object_type="credentials.host", object_id=str(host.pk)).last()
    assert {"public_key", "private_key", "fingerprint", "certificate"} <= set(update.changed_fields)
    assert update.before["public_key"] == old.public_key and update.after["public_key"] == rekeyed.public_key
    assert AuditEvent.objects.filter(
        action="create", object_type="credentials.revokedcertificate", object_id=str(revocation.pk)
    ).exists()
    dump = " ".join(str((e.before, e.after, e.extra)) for e in AuditEvent.objects.all())
    assert reveal(reload(rekeyed), "private_key") not in dump and reveal(old, "private_key") not in dump
    assert "PRIVATE KEY" not in dump


def test_rekey_is_refused_for_device_held_keys_and_deactivated_hosts(world):
    _, public_pem = device_keypair()
    device = make_host(world.org, public_key=public_pem)
    with pytest.raises(ValidationError) as exc:
        svc.rekey_host(device)
    message = exc.value.message_dict["key_source"][0]
    assert "held by the device" in message and "new public key" in message
    assert reload(device).fingerprint == device.fingerprint
    assert not RevokedCertificate.objects.exists()
    inactive = svc.deactivate_host(make_host(world.org))
    with pytest.raises(ValidationError) as exc:
        svc.rekey_host(inactive)
    assert "deactivated" in exc.value.message_dict["active"][0]


def test_a_host_keeps_its_network_and_key(world):
    host = make_host(world.org)
    other = make_network(world.org, cidr="10.50.0.0/24")
    _, public = nc.generate_host_keypair()
    with pytest.raises(ValidationError) as exc:
        svc.update_host(host, network=other, public_key=public.hex())
    assert exc.value.message_dict == {
        "network": [svc.FIXED_FIELDS["network"]],
        "public_key": [svc.FIXED_FIELDS["public_key"]],
    }
    same = svc.update_host(host, network=host.network, public_key=host.public_key, mtu=1400)
    assert same.mtu == 1400 and same.fingerprint == host.fingerprint


def test_renewal_of_a_deactivated_host_is_refused(world):
    host = svc.deactivate_host(make_host(world.org))
    with pytest.raises(ValidationError):
        svc.renew_host(host)


def test_deleting_a_host_keeps_its_fingerprint_blocked(world):
    peer = make_host(world.org)
    host = make_host(world.org)
    fingerprint = host.fingerprint
    host.delete()
    revocation = RevokedCertificate.objects.get(fingerprint=fingerprint)
    assert revocation.reason == "deleted" and revocation.host_name == host.hostname
    assert config_of(peer)["pki"]["blocklist"] == [fingerprint]


def test_deleting_a_deactivated_host_keeps_one_revocation(world):
    host = svc.deactivate_host(make_host(world.org))
    reload(host).delete()
    assert RevokedCertificate.objects.get(fingerprint=host.fingerprint).reason == "deactivated"


def test_expired_revocations_leave_the_blocklist(world):
    peer = make_host(world.org)
    gone, current = make_host(world.org), make_host(world.org)
    svc.deactivate_host(gone)
    svc.deactivate_host(current)
    RevokedCertificate.objects.filter(fingerprint=gone.fingerprint).update(not_after=timezone.now() - timedelta(1))
    assert config_of(peer)["pki"]["blocklist"] == [current.fingerprint]


def test_identity_changes_reissue_and_revoke_the_old_certificate(world):
    host = make_host(world.org, groups=["admin", "web"])
    old = host.fingerprint
    host = svc.update_host(host, groups=["web"])
    assert cert_of(host).groups == ["web"] and host.fingerprint != old
    assert RevokedCertificate.objects.get(fingerprint=old).reason == "superseded"


def test_config_only_changes_keep_the_certificate(world):
    host = make_host(world.org)
    updated = svc.update_host(host, mtu=1400, firewall_outbound=[{"port": 443, "proto": "tcp", "host": "any"}])
    assert updated.fingerprint == host.fingerprint
    assert config_of(updated)["tun"]["mtu"] == 1400
    longer = svc.update_host(updated, validity_days=30)
    assert longer.fingerprint != host.fingerprint
    assert not RevokedCertificate.objects.exists()


def test_fields_outside_the_host_contract_cannot_be_changed(world):
    with pytest.raises(ValidationError) as exc:
        svc.update_host(make_host(world.org), fingerprint="00" * 32)
    assert "fingerprint" in exc.value.message_dict


# --- Renewal ------------------------------------------------------------------------------------------------------


def test_renewal_picks_hosts_with_at_most_a_fifth_of_their_lifetime_left(world):
    now = timezone.now()
    fresh = make_host(world.org)
    due = shift(make_host(world.org), not_before=now - timedelta(days=90), not_after=now + timedelta(days=10))
    edge = shift(make_host(world.org), not_before=now - timedelta(days=80), not_after=now + timedelta(days=20))
    not_yet = shift(make_host(world.org), not_before=now - timedelta(days=79), not_after=now + timedelta(days=21))
    expired = shift(make_host(world.org), not_before=now - timedelta(days=100), not_after=now - timedelta(days=1))
    inactive = svc.deactivate_host(make_host(world.org))
    shift(inactive, not_before=now - timedelta(days=90), not_after=now + timedelta(days=10))
    report = svc.renew_due_hosts(now=now)
    assert sorted(report.renewed) == sorted([due.pk, edge.pk, expired.pk])
    assert report.failed == {}
    for host in (due, edge, expired):
        assert reload(host).not_after > now + timedelta(days=300)
    for host in (fresh, not_yet):
        assert reload(host).fingerprint == host.fingerprint
    assert reload(inactive).not_after < now + timedelta(days=11)


def test_renewal_skips_certificates_already_ending_with_their_ca(world):
    now = timezone.now()
    ca = ca_of(world.org)
    clamped = shift(make_host(world.org), not_before=now - timedelta(days=300), not_after=ca.not_after)
    CertificateAuthority.objects.filter(pk=ca.pk).update(not_after=now + timedelta(days=5))
    shift(clamped, not_after=now + timedelta(days=5))
    assert svc.renew_due_hosts(now=now).renewed == []


def test_renewal_task_runs_the_service(world):
    from credentials.tasks import nebula as nebula_tasks

    now = timezone.now()
    due = shift(make_host(world.org), not_before=now - timedelta(days=90), not_after=now + timedelta(days=1))
    assert nebula_tasks.renew_due_hosts() == {"renewed": 1, "failed": {}}
    assert reload(due).not_after > now + timedelta(days=300)


def count_ca_key_loads(monkeypatch) -> list[int]:
    """Calls that decrypt-and-load a CA key (through the real function)."""
    calls, load = [], nc.load_ca_key
    monkeypatch.setattr(nc, "load_ca_key", lambda text: calls.append(1) or load(text))
    return calls


def test_renewal_loads_each_ca_key_once_per_run(world, monkeypatch):
    now = timezone.now()
    due = [
        shift(make_host(org), not_before=now - timedelta(days=90), not_after=now + timedelta(days=1))
        for org in (world.org, world.org, world.org, world.other_org)
    ]
    loads = count_ca_key_loads(monkeypatch)
    assert sorted(svc.renew_due_hosts(now=now).renewed) == sorted(host.pk for host in due)
    assert len(loads) == 2  # one per CA, not one per certificate
    for host in due:
        verify(cert_of(host), ca_of(host.organization).certificate)


def test_a_signer_of_a_rotated_ca_is_not_used(world):
    host = make_host(world.org)
    old_signer = svc._signer(ca_of(world.org))
    ca = svc.rotate_ca(svc.rotate_ca(ca_of(world.org), "prepare").ca, "commit").ca
    svc.issue_certificate(reload(host), signer=old_signer)
    assert reload(host).issuer_fingerprint == ca.fingerprint != old_signer.fingerprint
    verify(cert_of(host), ca.certificate)


# --- CA rotation --------------------------------------------------------------------------------------------------


def test_ca_rotation_in_three_phases(world):
    network = make_network(world.org)
    active = make_host(network)
    inactive = svc.deactivate_host(make_host(network))
    ca = ca_of(world.org)
    old_pem, old_fp = ca.certificate, ca.fingerprint

    ca = svc.rotate_ca(ca, "prepare").ca
    assert ca.rotation_phase == "prepared"
    next_pem = ca.next_certificate
    assert config_of(active)["pki"]["ca"] == old_pem + next_pem
    assert nc.load_certificate(next_pem).name == ca.name
    assert ca.next_key.startswith(f"{VERSION}:")
    with pytest.raises(ValidationError):
        svc.rotate_ca(ca, "prepare")
    with pytest.raises(ValidationError):
        svc.rotate_ca(ca, "finish")

    result = svc.rotate_ca(ca, "commit")
    ca = result.ca
    assert result.hosts_resigned == 1
    assert ca.rotation_phase == "committed" and ca.certificate == next_pem and ca.previous_certificate == old_pem
    assert ca.fingerprint == nc.load_certificate(next_pem).fingerprint() != old_fp
    assert ca.rotated_at is not None and ca.next_certificate == "" and ca.next_key == ""
    assert reload(active).issuer_fingerprint == ca.fingerprint
    assert reload(inactive).issuer_fingerprint == old_fp  # revoked hosts are not re-signed
    config = config_of(active)
    assert config["pki"]["ca"] == old_pem + next_pem
    verify(cert_of(active), config["pki"]["ca"])
    new_host = make_host(network)
    assert new_host.issuer_fingerprint == ca.fingerprint
    nc.HostSigner(nc.load_certificate(ca.certificate), nc.load_ca_key(reveal(ca, "key")))

    ca = svc.rotate_ca(ca, "finish").ca
    assert ca.rotation_phase == "" and ca.previous_certificate == ""
    assert config_of(active)["pki"]["ca"] == next_pem


def test_rotation_commit_loads_the_new_ca_key_once(world, monkeypatch):
    hosts = [make_host(world.org) for _ in range(3)]
    ca = svc.rotate_ca(ca_of(world.org), "prepare").ca
    loads = count_ca_key_loads(monkeypatch)
    result = svc.rotate_ca(ca, "commit")
    assert result.hosts_resigned == 3 and len(loads) == 1
    for host in hosts:
        assert reload(host).issuer_fingerprint == result.ca.fingerprint


def test_finish_is_refused_while_active_hosts_have_old_certificates(world):
    host = make_host(world.org)
    ca = svc.rotate_ca(ca_of(world.org), "prepare").ca
    ca = svc.rotate_ca(ca, "commit").ca
    type(host).objects.filter(pk=host.pk).update(issuer_fingerprint="ab" * 32)
    with pytest.raises(ValidationError) as exc:
        svc.rotate_ca(ca, "finish")
    assert "1 active host(s)" in exc.value.message_dict["phase"][0]
    assert svc.rotate_ca(ca, "commit").hosts_resigned == 1  # commit is idempotent and catches up
    svc.rotate_ca(ca, "finish")


def test_rotation_may_move_a_ca_to_v2(world):
    host = make_host(world.org)
    ca = svc.rotate_ca(ca_of(world.org), "prepare", version=2).ca
    ca = svc.rotate_ca(ca, "commit").ca
    assert ca.version == 2 and cert_of(host).version == 2


def test_unknown_rotation_phase_is_refused(world):
    with pytest.raises(ValidationError):
        svc.rotate_ca(ca_of(world.org), "abort")


# --- CA expiry ----------------------------------------------------------------------------------------------------


def expire_in(org, days: int) -> CertificateAuthority:
    ca = ca_of(org)
    CertificateAuthority.objects.filter(pk=ca.pk).update(not_after=timezone.now() + timedelta(days=days, hours=1))
    return reload(ca)


def test_ca_expiry_warnings_within_90_days_once_a_day(world):
    soon = expire_in(world.org, 30)
    expire_in(world.other_org, 120)
    warned = svc.warn_expiring_cas()
    assert [(item.ca_id, item.days_left, item.expired) for item in warned] == [(soon.pk, 30, False)]
    events = AuditEvent.objects.filter(
        object_type="credentials.certificateauthority", extra__warning="nebula.ca_expiry"
    )
    assert events.count() == 1
    event = events.get()
    assert event.organization_id == world.org.pk and event.extra["days_left"] == 30
    svc.warn_expiring_cas()
    assert events.count() == 1  # once per CA per day
    tomorrow = timezone.now() + timedelta(days=1)
    svc.warn_expiring_cas(now=tomorrow)
    assert events.count() == 2


def test_readiness_reports_expiring_cas_without_naming_tenants(world):
    assert health._checks["nebula"] is svc.check_nebula
    assert svc.check_nebula() == {"ok": True, "cas_expiring": 0, "cas_expired": 0}
    soon = expire_in(world.org, 10)
    result = svc.check_nebula()
    assert result == {
        "ok": True,
        "cas_expiring": 1,
        "cas_expired": 0,
        "soonest_expiry": soon.not_after.isoformat(),
    }
    CertificateAuthority.objects.filter(pk=soon.pk).update(not_after=timezone.now() - timedelta(days=1))
    result = svc.check_nebula()
    assert result["ok"] is True and result["cas_expired"] == 1 and "Rotate them" in result["warning"]
    assert "acme" not in str(result).lower()


def test_an_expired_ca_issues_nothing(world):
    network = make_network(world.org)
    now = timezone.now()
    replace_ca_certificate(ca_of(world.org), now - timedelta(days=30), now - timedelta(days=1))
    with pytest.raises(ValidationError) as exc:
        make_host(network)
    assert "The certificate authority has expired" in str(exc.value)


def test_beat_runs_registered_nebula_tasks(settings):
    from stoneage.celery import app

    app.loader.import_default_modules()
    for entry in ("nebula-renew-hosts", "nebula-ca-expiry"):
        assert settings.CELERY_BEAT_SCHEDULE[entry]["task"] in app.tasks
