"""Security regressions of the Nebula PKI: revocations outlive the network they were issued in."""

import pytest
from django.core.exceptions import ValidationError

from credentials.models import RevokedCertificate
from credentials.services import nebula as svc
from tests.credentials.nebula_support import ca_of, config_of, make_host, make_network

pytestmark = pytest.mark.django_db


def test_deleting_a_network_keeps_its_revoked_certificates_on_the_ca_blocklist(world):
    """Every host of the CA trusts every certificate the CA signed: a deleted host's certificate must stay
    blocked for the CA's other networks until it expires, even once its own network is gone."""
    site = make_network(world.org, cidr="10.1.0.0/24")
    other = make_network(world.org, cidr="10.2.0.0/24")
    stolen = make_host(site)
    fingerprint = stolen.fingerprint
    stolen.delete()
    svc.delete_network(site)
    assert fingerprint in svc.blocklist(ca_of(world.org))
    assert fingerprint in config_of(make_host(other))["pki"]["blocklist"]
    with pytest.raises(ValidationError):
        svc.verify_host(stolen)  # as a peer of the remaining network sees it


def test_a_deactivated_hosts_revocation_survives_its_network(world):
    site = make_network(world.org, cidr="10.1.0.0/24")
    host = svc.deactivate_host(make_host(site))
    host.delete()
    site.delete()
    assert RevokedCertificate.objects.filter(fingerprint=host.fingerprint).exists()
    assert host.fingerprint in svc.blocklist(ca_of(world.org))
