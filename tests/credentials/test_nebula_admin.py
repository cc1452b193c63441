"""Nebula in the admin: scoping by organization and role, host forms, actions, rotation, the expiry banner."""

from datetime import timedelta

import pytest
import yaml
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from credentials.codecs import nebulacert as nc
from credentials.models import CertificateAuthority, Host, Network
from credentials.services import nebula as svc
from tenancy.models import Membership
from tests.credentials.nebula_support import (
    ED25519_PUBLIC_PEM,
    ca_of,
    make_host,
    make_network,
    public_key_pem,
    reload,
    replace_ca_certificate,
)

pytestmark = pytest.mark.django_db

ACTION_URL = "admin:credentials_host_changelist"


def run_action(client, action: str, hosts, model: str = "host"):
    return client.post(
        reverse(f"admin:credentials_{model}_changelist"),
        {"action": action, "_selected_action": [h.pk for h in hosts]},
    )


def host_form(network, **overrides) -> dict:
    data = {
        "network": network.pk,
        "hostname": "web-01",
        "overlay_ip": "",
        "groups": '["web"]',
        "public_host_port": "",
        "listen_port": "",
        "firewall_inbound": "null",
        "firewall_outbound": "null",
        "unsafe_networks": "[]",
        "unsafe_routes": "[]",
        "mtu": "1300",
        "tun_device": "nebula1",
        "validity_days": "365",
        "key_path": "",
        "device_public_key": "",
    }
    data.update(overrides)
    return data


# --- Visibility ---------------------------------------------------------------------------------------------------


def test_every_role_sees_its_ca_and_networks_only(world, client):
    make_network(world.org, "acme-mesh")
    make_network(world.other_org, "globex-mesh")
    for role in ("viewer", "member", "auditor"):
        client.force_login(world.user(role))
        page = client.get(reverse("admin:credentials_certificateauthority_changelist")).content.decode()
        assert "Acme Corp Nebula CA" in page and "Globex" not in page
        page = client.get(reverse("admin:credentials_network_changelist")).content.decode()
        assert "acme-mesh" in page and "globex-mesh" not in page


def test_hosts_are_for_managers_and_auditors(world, client):
    host = make_host(world.org, "acme-web")
    make_host(world.other_org, "globex-web")
    for role, status in [("owner", 200), ("admin", 200), ("auditor", 200), ("member", 403), ("viewer", 403)]:
        client.force_login(world.user(role))
        response = client.get(reverse("admin:credentials_host_changelist"))
        assert response.status_code == status, role
        if status == 200:
            assert b"acme-web" in response.content and b"globex-web" not in response.content
    client.force_login(world.outsider)
    assert client.get(reverse("admin:credentials_host_change", args=[host.pk])).status_code == 302


def test_ca_page_has_no_add_delete_or_key(world, client):
    client.force_login(world.superuser)
    ca = ca_of(world.org)
    page = client.get(reverse("admin:credentials_certificateauthority_change", args=[ca.pk])).content.decode()
    assert ca.fingerprint in page and "PRIVATE KEY" not in page and ca.key not in page
    assert client.get(reverse("admin:credentials_certificateauthority_add")).status_code == 403


def test_host_page_shows_certificate_details_but_no_private_key(world, client):
    host = make_host(world.org, groups=["web", "ssh"])
    client.force_login(world.user("admin"))
    page = client.get(reverse("admin:credentials_host_change", args=[host.pk])).content.decode()
    assert host.fingerprint in page and host.issuer_fingerprint in page
    assert "web, ssh" in page and f"{host.overlay_ip}/24" in page and "valid" in page
    assert "PRIVATE KEY" not in page and host.private_key not in page


# --- Networks and hosts ------------------------------------------------------------------------------------------


def test_admin_creates_a_network_on_the_organizations_ca(world, client):
    client.force_login(world.user("admin"))
    response = client.post(
        reverse("admin:credentials_network_add"),
        {"organization": world.org.pk, "ca": "", "name": "mesh", "cidr": "10.42.0.0/24", "description": ""},
    )
    assert response.status_code == 302
    assert Network.objects.get(name="mesh").ca == ca_of(world.org)
    response = client.post(
        reverse("admin:credentials_network_add"),
        {"organization": world.org.pk, "ca": "", "name": "bad", "cidr": "10.42.0.1/24", "description": ""},
    )
    assert response.status_code == 200 and b"host bits set" in response.content
    response = client.post(
        reverse("admin:credentials_network_add"),
        {"organization": world.other_org.pk, "ca": "", "name": "x", "cidr": "10.43.0.0/24", "description": ""},
    )
    assert response.status_code == 200 and not Network.objects.filter(name="x").exists()


def test_admin_refuses_an_overlapping_network_naming_it(world, client):
    make_network(world.org, "mesh-a", "10.77.0.0/24")
    client.force_login(world.user("admin"))
    response = client.post(
        reverse("admin:credentials_network_add"),
        {"organization": world.org.pk, "ca": "", "name": "mesh-b", "cidr": "10.77.0.128/25", "description": ""},
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "“mesh-a” (10.77.0.0/24)" in errors["cidr"][0]
    assert not Network.objects.filter(name="mesh-b").exists()


def test_admin_host_form_refuses_a_network_whose_ca_expired(world, client):
    network = make_network(world.org)
    now = timezone.now()
    replace_ca_certificate(ca_of(world.org), now - timedelta(days=30), now - timedelta(days=1))
    client.force_login(world.user("owner"))
    response = client.post(reverse("admin:credentials_host_add"), host_form(network))
    assert response.status_code == 200
    assert "certificate authority has expired" in response.context["adminform"].form.errors["network"][0]
    assert not Host.objects.exists()


def test_admin_creates_hosts_with_generated_and_device_keys(world, client):
    network = make_network(world.org)
    client.force_login(world.user("owner"))
    response = client.post(reverse("admin:credentials_host_add"), host_form(network))
    assert response.status_code == 302, response.content.decode()[:2000]
    host = Host.objects.get(hostname="web-01")
    assert host.overlay_ip == "10.42.0.1" and host.key_source == "generated" and host.certificate
    assert nc.load_certificate(host.certificate).groups == ["web"]

    _, public = nc.generate_host_keypair()
    pem = public_key_pem(public)
    response = client.post(
        reverse("admin:credentials_host_add"), host_form(network, hostname="dev", device_public_key=pem)
    )
    assert response.status_code == 302
    device = Host.objects.get(hostname="dev")
    assert device.key_source == "device" and device.public_key == public.hex() and device.private_key == ""


def test_admin_host_form_reports_errors(world, client):
    network = make_network(world.org)
    client.force_login(world.user("owner"))
    bad_key = ED25519_PUBLIC_PEM
    for overrides, text in [
        ({"overlay_ip": "10.42.5.5"}, "outside the network"),
        ({"is_lighthouse": "on"}, "public host:port"),
        ({"device_public_key": bad_key}, "Ed25519"),
        ({"firewall_inbound": '[{"proto": "tcp"}]'}, "port is required"),
    ]:
        response = client.post(reverse("admin:credentials_host_add"), host_form(network, **overrides))
        assert response.status_code == 200 and text in response.content.decode(), text
    assert not Host.objects.exists()


def test_admin_cannot_add_hosts_to_networks_of_organizations_it_does_not_manage(world, client):
    foreign = make_network(world.other_org)
    Membership.objects.create(user=world.user("admin"), organization=world.other_org, role="viewer")
    client.force_login(world.user("admin"))
    response = client.post(reverse("admin:credentials_host_add"), host_form(foreign))
    assert response.status_code == 200 and not Host.objects.exists()


def test_admin_edit_reissues_on_identity_change(world, client):
    host = make_host(world.org, "web-01", groups=["web"])
    client.force_login(world.user("admin"))
    data = host_form(host.network, overlay_ip=host.overlay_ip, groups='["web", "db"]')
    data.pop("network")
    response = client.post(reverse("admin:credentials_host_change", args=[host.pk]), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert nc.load_certificate(reload(host).certificate).groups == ["web", "db"]


# --- Actions ------------------------------------------------------------------------------------------------------


def test_download_config_action_is_audited(world, client):
    host = make_host(world.org)
    client.force_login(world.user("admin"))
    response = run_action(client, "download_config", [host])
    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="{host.hostname}.yml"'
    assert yaml.safe_load(response.content)["pki"]["cert"] == host.certificate
    event = AuditEvent.objects.get(action="credential_read")
    assert event.object_id == str(host.pk) and event.actor_id == world.user("admin").pk


def test_download_config_needs_exactly_one_host_and_a_manager(world, client):
    hosts = [make_host(world.org), make_host(world.org)]
    client.force_login(world.user("admin"))
    response = run_action(client, "download_config", hosts)
    assert response.status_code == 302
    client.force_login(world.user("auditor"))
    response = run_action(client, "download_config", hosts[:1])
    assert "attachment" not in response.get("Content-Disposition", "")
    assert not AuditEvent.objects.filter(action="credential_read").exists()


def test_actions_deactivate_reactivate_renew(world, client):
    host = make_host(world.org)
    client.force_login(world.user("owner"))
    run_action(client, "deactivate", [host])
    assert not reload(host).active
    run_action(client, "reactivate", [host])
    assert reload(host).active and reload(host).fingerprint != host.fingerprint
    before = reload(host).not_after
    Host.objects.filter(pk=host.pk).update(not_after=timezone.now())
    run_action(client, "renew", [host])
    assert reload(host).not_after >= before - timedelta(seconds=5)


def test_rekey_action(world, client):
    generated = make_host(world.org)
    _, public = nc.generate_host_keypair()
    device = make_host(world.org, public_key=public.hex())
    client.force_login(world.user("admin"))
    response = run_action(client, "rekey", [generated, device])
    assert response.status_code == 302
    page = client.get(response["Location"]).content.decode()
    assert "1 host(s) rekeyed" in page and "held by the device" in page
    assert reload(generated).public_key != generated.public_key
    assert reload(device).fingerprint == device.fingerprint
    assert yaml.safe_load(svc.render_config(reload(device)))["pki"]["blocklist"] == [generated.fingerprint]
    client.force_login(world.user("auditor"))
    before = reload(generated)
    run_action(client, "rekey", [before])
    assert reload(generated).public_key == before.public_key


def test_actions_skip_hosts_of_organizations_the_user_does_not_manage(world, client):
    foreign = make_host(world.other_org)
    Membership.objects.create(user=world.user("admin"), organization=world.other_org, role="auditor")
    client.force_login(world.user("admin"))
    run_action(client, "deactivate", [foreign])
    assert reload(foreign).active
    client.post(
        reverse("admin:credentials_host_changelist"),
        {"action": "delete_selected", "_selected_action": [foreign.pk], "post": "yes"},
    )
    assert Host.objects.filter(pk=foreign.pk).exists()


def test_only_superusers_rotate_cas(world, client):
    ca = ca_of(world.org)
    client.force_login(world.user("owner"))
    run_action(client, "prepare_rotation", [ca], model="certificateauthority")
    assert reload(ca).rotation_phase == ""
    client.force_login(world.superuser)
    for action, phase in [("prepare_rotation", "prepared"), ("commit_rotation", "committed"), ("finish_rotation", "")]:
        run_action(client, action, [ca], model="certificateauthority")
        assert reload(ca).rotation_phase == phase, action
    response = run_action(client, "finish_rotation", [ca], model="certificateauthority")
    assert response.status_code == 302  # refused with a message, not an error page


def test_expiry_banner_on_changelists(world, client):
    ca = ca_of(world.org)
    CertificateAuthority.objects.filter(pk=ca.pk).update(not_after=timezone.now() + timedelta(days=40, hours=1))
    client.force_login(world.user("viewer"))
    page = client.get(reverse("admin:credentials_network_changelist")).content.decode()
    assert "expires on" in page and "in 40 days" in page
    client.force_login(world.outsider)
    page = client.get(reverse("admin:credentials_certificateauthority_changelist")).content.decode()
    assert "expires on" not in page
    CertificateAuthority.objects.filter(pk=ca.pk).update(not_after=timezone.now() - timedelta(days=1))
    client.force_login(world.user("owner"))
    page = client.get(reverse("admin:credentials_host_changelist")).content.decode()
    assert "hosts cannot connect" in page


def test_deleting_a_host_in_the_admin_revokes_it(world, client):
    peer = make_host(world.org)
    host = make_host(world.org)
    client.force_login(world.user("owner"))
    response = client.post(reverse("admin:credentials_host_delete", args=[host.pk]), {"post": "yes"})
    assert response.status_code == 302
    assert yaml.safe_load(svc.render_config(peer))["pki"]["blocklist"] == [host.fingerprint]


def test_add_pages_render_for_managers_only(world, client):
    make_network(world.org)
    for role, status in [("owner", 200), ("admin", 200), ("auditor", 403), ("viewer", 403)]:
        client.force_login(world.user(role))
        for model in ("host", "network"):
            response = client.get(reverse(f"admin:credentials_{model}_add"))
            assert response.status_code == status, (role, model)
    client.force_login(world.user("owner"))
    page = client.get(reverse("admin:credentials_host_add")).content.decode()
    assert "device_public_key" in page and "nebula-cert keygen" in page
    page = client.get(reverse("admin:credentials_revokedcertificate_changelist"))
    assert page.status_code == 200
