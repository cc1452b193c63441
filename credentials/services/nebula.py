"""Domain actions for the Nebula mesh PKI: CAs, networks, hosts, revocation, renewal, CA rotation.

Admin, API, signals and Celery tasks all call these, so the rules hold whichever door a change comes through.
Rule violations raise `ValidationError` (a 400 in the API, a message in the admin).

Host certificates are signed here; host configs are rendered on demand by `render_config` (never stored), and
`download_config` is the one audited way a config (and with it a generated private key) leaves the platform.
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit import record_credential_read
from audit.models import Action
from audit.services import write_event
from credentials.codecs import nebulacert as nc
from credentials.codecs import nebulayaml as ny
from credentials.models import CertificateAuthority, Host, Network, RevokedCertificate
from credentials.secrets import reveal, seal
from tenancy.models import Organization

log = logging.getLogger(__name__)

#: Certificates start this much before "now", so a device whose clock runs a little behind accepts them.
CLOCK_SKEW = timedelta(minutes=5)
#: Host fields written into the certificate: changing one re-issues it and revokes the old one.
IDENTITY_FIELDS = ("hostname", "overlay_ip", "groups", "unsafe_networks")
#: Fields a host keeps for life, with the reason `update_host` gives when a change asks for another value (the
#: same value is accepted, so a client may send a host back as it read it).
FIXED_FIELDS = {
    "network": "A host cannot move to another network; create a new host there.",
    "public_key": (
        "A host keeps its public key: rekey it for a new key pair generated here; a device-held key comes from "
        "the device, so delete the host and create it again with the device's new public key."
    ),
}
#: Fields a change through `update_host` may touch (identity fields plus config-only ones).
UPDATABLE_FIELDS = (
    *IDENTITY_FIELDS,
    "is_lighthouse",
    "is_relay",
    "public_host_port",
    "listen_port",
    "firewall_inbound",
    "firewall_outbound",
    "unsafe_routes",
    "mtu",
    "tun_device",
    "validity_days",
    "key_path",
)


def _now() -> datetime:
    return timezone.now()


def _error(field: str, exc: Exception) -> ValidationError:
    return ValidationError({field: str(exc)})


# --- Certificate authorities -----------------------------------------------------------------------------------


def _mint_ca(name: str, version: int, validity_days: int | None = None) -> tuple[nc.NebulaCertificate, bytes]:
    now = _now()
    days = validity_days or settings.NEBULA_CA_VALIDITY_DAYS
    return nc.create_ca(name, now - CLOCK_SKEW, now + timedelta(days=days), version=version)


def ca_name(organization: Organization) -> str:
    return f"{organization.name} Nebula CA"


@transaction.atomic
def create_ca(
    organization: Organization, *, version: int | None = None, validity_days: int | None = None
) -> CertificateAuthority:
    """The organization's certificate authority (Ed25519, self-signed; v1 unless `NEBULA_CA_VERSION` says 2)."""
    version = version or settings.NEBULA_CA_VERSION
    if version not in CertificateAuthority.Version.values:
        raise ValidationError({"version": "The certificate version is 1 or 2."})
    cert, key = _mint_ca(ca_name(organization), version, validity_days)
    ca = CertificateAuthority(
        organization=organization,
        name=cert.name,
        version=version,
        certificate=cert.to_pem(),
        fingerprint=cert.fingerprint(),
        not_before=cert.not_before_dt,
        not_after=cert.not_after_dt,
    )
    seal(ca, "key", nc.ed25519_private_key_to_pem(key))
    ca.save()
    return ca


def ensure_ca(organization: Organization) -> CertificateAuthority:
    """The organization's active CA, created if it has none yet (organizations older than Nebula support)."""
    ca = CertificateAuthority.objects.filter(organization=organization, active=True).first()
    return ca or create_ca(organization)


def _signer(ca: CertificateAuthority) -> nc.HostSigner:
    """The CA's certificate and decrypted key, loaded for one operation and dropped with it."""
    return nc.HostSigner(nc.load_certificate(ca.certificate), nc.load_ca_key(reveal(ca, "key")))


def lock_ca(ca_or_id) -> CertificateAuthority:
    return CertificateAuthority.objects.select_for_update().get(pk=getattr(ca_or_id, "pk", ca_or_id))


# --- Networks --------------------------------------------------------------------------------------------------


@transaction.atomic
def create_network(
    *, organization: Organization, name: str, cidr: str, ca: CertificateAuthority | None = None, description: str = ""
) -> Network:
    # The CA's row lock serializes the range checks of its networks: two overlapping ranges cannot both pass.
    ca = lock_ca(ca or ensure_ca(organization))
    network = Network(
        organization=organization,
        ca=ca,
        name=name,
        cidr=cidr,
        description=description,
    )
    network.full_clean()
    network.save()
    return network


@transaction.atomic
def update_network(network: Network, **changes) -> Network:
    lock_ca(network.ca_id)  # before the network's row, in the order rotation and creation lock them
    network = Network.objects.select_for_update().get(pk=network.pk)
    if "ca" in changes and changes["ca"] != network.ca:
        raise ValidationError({"ca": "A network keeps its certificate authority; rotate the CA instead."})
    if "cidr" in changes and changes["cidr"] != network.cidr and network.hosts.exists():
        raise ValidationError({"cidr": "The network has hosts; their addresses and certificates depend on it."})
    for name, value in changes.items():
        setattr(network, name, value)
    network.full_clean()
    network.save()
    return network


@transaction.atomic
def delete_network(network: Network) -> None:
    count = network.hosts.count()
    if count:
        raise ValidationError({"detail": f"The network still has {count} host(s); delete them first."})
    network.delete()


def forget_ca_revocations(ca: CertificateAuthority) -> None:
    """Called before a CA row is deleted (only with its organization): its blocklist goes with it.

    Rows written in the same delete by the hosts' pre_delete handler are removed here too, before the CA row
    disappears. A network's deletion keeps its rows: the CA's other networks still need them.
    """
    RevokedCertificate.objects.filter(ca=ca).delete()


# --- Hosts: keys, addresses, certificates ----------------------------------------------------------------------


def parse_device_public_key(value: str | bytes) -> bytes:
    """A device-supplied X25519 public key (nebula-cert keygen's `.pub` PEM, base64 or hex) -> 32 bytes."""
    try:
        return nc.parse_public_key_pem_or_raw(value)
    except nc.NebulaCertError as exc:
        raise _error("public_key", exc) from None


def allocate_ip(network: Network) -> str:
    """The lowest address of the network that no host of its CA uses (the caller holds the network's row lock).

    Hosts of other networks count only where ranges overlap, which new networks cannot do; older ones may.
    """
    overlay = network.ip_network
    sharing = [
        pk
        for pk, cidr in Network.objects.filter(ca_id=network.ca_id).values_list("pk", "cidr")
        if pk == network.pk or ipaddress.IPv4Network(cidr).overlaps(overlay)
    ]
    taken = Host.objects.filter(network__in=sharing).exclude(overlay_ip=None).values_list("overlay_ip", flat=True)
    used = {ipaddress.IPv4Address(ip) for ip in taken}
    for ip in overlay.hosts():
        if ip not in used:
            return str(ip)
    raise ValidationError({"overlay_ip": f"The network {network.cidr} has no free address left."})


def _host_networks(host: Host) -> list[str]:
    return [f"{host.overlay_ip}/{host.network.ip_network.prefixlen}"]


def issue_certificate(
    host: Host,
    *,
    ca: CertificateAuthority | None = None,
    now: datetime | None = None,
    save: bool = True,
    signer: nc.HostSigner | None = None,
) -> Host:
    """Sign a new certificate for the host's current identity and key with its network's CA, and save it.

    Lifetime: `validity_days`, clamped to the CA's own expiry (nebula refuses a certificate that outlives its
    signer). The caller decides whether the previous certificate is revoked. An operation that issues many
    certificates passes the `signer` it loaded once; a signer of another CA (rotated since) is not used.
    """
    ca = ca or host.network.ca
    if signer is None or signer.fingerprint != ca.fingerprint:
        signer = _signer(ca)
    ca_cert = signer.ca
    now = now or _now()
    not_before = max(now - CLOCK_SKEW, ca_cert.not_before_dt)
    not_after = min(now + timedelta(days=host.validity_days), ca_cert.not_after_dt)
    if not_after <= now:
        raise ValidationError({"detail": "The certificate authority has expired; rotate it before issuing."})
    revoked = RevokedCertificate.objects.filter(ca=ca)
    while True:
        try:
            cert = signer.sign(
                name=host.hostname,
                networks=_host_networks(host),
                groups=host.groups,
                not_before=not_before,
                not_after=not_after,
                public_key=bytes.fromhex(host.public_key),
                unsafe_networks=host.unsafe_networks,
            )
        except nc.NebulaCertError as exc:
            raise ValidationError({"detail": f"Nebula refuses this certificate: {exc}"}) from None
        # Signing is deterministic: re-issuing within the same second (deactivate then reactivate) would
        # reproduce a revoked certificate byte for byte. A second less of lifetime makes it a new one.
        if not revoked.filter(fingerprint=cert.fingerprint()).exists():
            break
        not_after -= timedelta(seconds=1)
    host.certificate = cert.to_pem()
    host.fingerprint = cert.fingerprint()
    host.issuer_fingerprint = cert.issuer
    host.not_before = cert.not_before_dt
    host.not_after = cert.not_after_dt
    if save:
        host.save()
    return host


def _revoke(host: Host, reason: str, now: datetime | None = None) -> RevokedCertificate | None:
    """Put the host's current certificate on the blocklist (unless it has already expired)."""
    if not host.fingerprint or host.not_after is None or host.not_after <= (now or _now()):
        return None
    revocation, _ = RevokedCertificate.objects.get_or_create(
        ca_id=host.network.ca_id,
        fingerprint=host.fingerprint,
        defaults={
            "network_id": host.network_id,
            "not_after": host.not_after,
            "host_name": host.hostname,
            "reason": reason,
        },
    )
    return revocation


def lock_host(host_or_id) -> Host:
    # Only the host row: rotation locks the CA first and then its hosts, so locking the CA here could deadlock.
    hosts = Host.objects.select_for_update(of=("self",)).select_related("network__ca")
    return hosts.get(pk=getattr(host_or_id, "pk", host_or_id))


@transaction.atomic
def create_host(
    *,
    network: Network,
    hostname: str,
    overlay_ip: str | None = None,
    public_key: str | bytes | None = None,
    organization: Organization | None = None,
    **fields,
) -> Host:
    """A host with a certificate. Without `public_key` we generate its X25519 key pair (the private key is
    encrypted at rest and delivered in its config); with one, the device keeps its private key and we never
    see it (like `nebula-cert sign -in-pub`)."""
    if organization is not None and network.organization_id != organization.pk:
        raise ValidationError({"network": "This network belongs to another organization."})
    # The network row lock serializes address allocation within the network.
    network = Network.objects.select_for_update(of=("self",)).select_related("ca").get(pk=network.pk)
    host = Host(network=network, organization_id=network.organization_id, hostname=hostname, **fields)
    host.overlay_ip = overlay_ip or allocate_ip(network)
    if public_key:
        host.key_source = Host.KeySource.DEVICE
        host.public_key = parse_device_public_key(public_key).hex()
    else:
        host.key_source = Host.KeySource.GENERATED
        _generate_key_pair(host)
    host.full_clean(exclude=["private_key"])
    issue_certificate(host, ca=network.ca, save=False)
    _save(host)
    return host


def _save(host: Host) -> None:
    """Save a host whose name and address were checked; another request may have taken one since."""
    try:
        with transaction.atomic():
            host.save()
    except IntegrityError:
        host.full_clean(exclude=["private_key"])  # names what was taken, now that the other row is visible
        raise ValidationError({"overlay_ip": f"{host.overlay_ip} was just taken; try again."}) from None


def _generate_key_pair(host: Host) -> None:
    """A new X25519 key pair for a host whose key we hold; the private key is sealed at rest."""
    if host.key_source != Host.KeySource.GENERATED:
        raise ValidationError(
            {
                "key_source": (
                    "This host's private key is held by the device, so only the device can make a new key pair "
                    "(nebula-cert keygen): delete the host and create it again with the new public key."
                )
            }
        )
    private, public = nc.generate_host_keypair()
    host.public_key = public.hex()
    seal(host, "private_key", nc.x25519_private_key_to_pem(private))


@transaction.atomic
def update_host(host: Host, **changes) -> Host:
    """Change a host. Identity changes (name, address, groups, unsafe networks) re-issue its certificate and
    revoke the old one, so a host cannot keep using groups it lost; a new lifetime re-issues without revoking.
    Everything else only affects the config, which is rendered on demand."""
    unknown = set(changes) - set(UPDATABLE_FIELDS) - set(FIXED_FIELDS)
    if unknown:
        raise ValidationError({name: "This field cannot be changed." for name in sorted(unknown)})
    host = lock_host(host)
    _drop_fixed_fields(host, changes)
    if "overlay_ip" in changes and not changes["overlay_ip"]:
        changes.pop("overlay_ip")
    before = {name: getattr(host, name) for name in changes}
    for name, value in changes.items():
        setattr(host, name, value)
    host.full_clean(exclude=["private_key"])
    identity_changed = any(before[n] != getattr(host, n) for n in IDENTITY_FIELDS if n in changes)
    reissue = identity_changed or ("validity_days" in changes and before["validity_days"] != host.validity_days)
    if host.active and reissue:
        if identity_changed:
            _revoke(Host.objects.get(pk=host.pk), RevokedCertificate.Reason.SUPERSEDED)
        issue_certificate(host, save=False)
    _save(host)
    return host


def _drop_fixed_fields(host: Host, changes: dict) -> None:
    """Remove the fixed fields from `changes`, refusing any that asks for another value."""
    errors = {}
    if "network" in changes:
        network = changes.pop("network")
        if getattr(network, "pk", network) != host.network_id:
            errors["network"] = FIXED_FIELDS["network"]
    if "public_key" in changes:
        key = changes.pop("public_key")
        if key and parse_device_public_key(key).hex() != host.public_key:
            errors["public_key"] = FIXED_FIELDS["public_key"]
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def deactivate_host(host: Host) -> Host:
    """The host's certificate goes on the blocklist of every host of its CA; it gets no new one."""
    host = lock_host(host)
    if not host.active:
        return host
    _revoke(host, RevokedCertificate.Reason.DEACTIVATED)
    host.active = False
    host.save(update_fields=["active", "updated"])
    return host


@transaction.atomic
def reactivate_host(host: Host, *, rekey: bool | None = None) -> Host:
    """A new certificate; the old one stays on the blocklist until it expires.

    A key pair generated here is replaced too unless `rekey=False`, so that the private key in the configs
    handed out before cannot be used with the new certificate. A device-held key is kept (`rekey=True` is
    refused: only the device can make a new one).
    """
    host = lock_host(host)
    if host.active:
        return host
    if rekey is None:
        rekey = host.key_source == Host.KeySource.GENERATED
    if rekey:
        _generate_key_pair(host)
    host.active = True
    return issue_certificate(host)


@transaction.atomic
def adopt_device_key(host: Host, public_key: str | bytes, *, key_path: str | None = None) -> Host:
    """The host's key becomes the one its device generated (enrollment, a replaced device): the previous
    certificate goes on the CA's blocklist in this transaction, the private key held here (if any) is wiped, and a
    certificate is issued for the device's key. `key_path`: where the device keeps its private key (its config's
    `pki.key`). A deactivated host comes back with it."""
    host = lock_host(host)
    raw = parse_device_public_key(public_key).hex()
    if key_path is not None:
        host.key_path = key_path
        host.full_clean(exclude=["private_key"])
    if raw == host.public_key and host.key_source == Host.KeySource.DEVICE and host.active:
        return issue_certificate(host)
    if Host.objects.filter(public_key=raw).exclude(pk=host.pk).exists():
        raise ValidationError({"public_key": "This key belongs to another host; generate a new key pair."})
    if host.active:
        _revoke(host, RevokedCertificate.Reason.REKEYED)
    host.key_source = Host.KeySource.DEVICE
    host.public_key = raw
    host.private_key = ""
    host.active = True
    return issue_certificate(host)


@transaction.atomic
def rekey_host(host: Host) -> Host:
    """A new key pair and certificate for a host whose key pair we generated; the old certificate goes on the
    CA's blocklist. Its new config (with the new private key) must reach the host: download it again."""
    host = lock_host(host)
    if not host.active:
        raise ValidationError({"active": "This host is deactivated; reactivating it issues a new key pair."})
    _generate_key_pair(host)
    _revoke(host, RevokedCertificate.Reason.REKEYED)
    return issue_certificate(host)


@transaction.atomic
def renew_host(host: Host, *, signer: nc.HostSigner | None = None) -> Host:
    """A fresh certificate for the same identity and key; the previous one simply runs out."""
    host = lock_host(host)
    if not host.active:
        raise ValidationError({"active": "This host is deactivated; reactivate it to issue a certificate."})
    return issue_certificate(host, signer=signer)


def revoke_deleted_host(host: Host) -> None:
    """Called before a host row is deleted (whichever door): its certificate stays blocked until it expires."""
    if host.active:
        _revoke(host, RevokedCertificate.Reason.DELETED)


# --- Renewal ---------------------------------------------------------------------------------------------------


def renewal_due(host: Host, ca: CertificateAuthority, now: datetime | None = None) -> bool:
    """At most `NEBULA_RENEW_FRACTION` of the lifetime left, unless the certificate already ends with its CA
    (renewing could not extend it; the CA expiry warning covers that case)."""
    if not host.active or host.not_after is None or host.not_before is None:
        return False
    if host.not_after >= ca.not_after and host.issuer_fingerprint == ca.fingerprint:
        return False
    now = now or _now()
    lifetime = host.not_after - host.not_before
    return host.not_after - now <= lifetime * settings.NEBULA_RENEW_FRACTION


@dataclass
class RenewalReport:
    renewed: list[int]
    failed: dict[int, str]


def renew_due_hosts(now: datetime | None = None) -> RenewalReport:
    """Renew every active host whose certificate is due; one failure does not stop the others. Each CA's key is
    decrypted once for the run."""
    now = now or _now()
    report = RenewalReport(renewed=[], failed={})
    signers: dict[int, nc.HostSigner] = {}
    hosts = Host.objects.filter(active=True).exclude(not_after=None).select_related("network__ca")
    for host in hosts.iterator():
        ca = host.network.ca
        if not renewal_due(host, ca, now):
            continue
        if ca.pk not in signers:
            signers[ca.pk] = _signer(ca)
        try:
            renew_host(host, signer=signers[ca.pk])
        except ValidationError as exc:
            report.failed[host.pk] = "; ".join(exc.messages)
            log.warning("Could not renew the Nebula certificate of host %s: %s", host.pk, exc)
        else:
            report.renewed.append(host.pk)
    return report


# --- Revocation and configs ------------------------------------------------------------------------------------


def blocklist(ca: CertificateAuthority, now: datetime | None = None) -> list[str]:
    """Sorted fingerprints of every unexpired revoked certificate of the CA's networks.

    The blocklist is per CA, not per network: every host of the CA trusts every certificate it signed, so a
    revoked certificate of one network must be refused by the hosts of the others too.
    """
    rows = RevokedCertificate.objects.filter(ca=ca, not_after__gt=now or _now())
    return sorted(set(rows.values_list("fingerprint", flat=True)))


def render_config(host: Host, now: datetime | None = None) -> str:
    """The host's Nebula config YAML, built from the current state of its network and CA.

    The private key is decrypted only here (generated keys); a device-held key is referenced by its path.
    """
    network = host.network
    ca = network.ca
    peers = Host.objects.filter(network=network, active=True).exclude(pk=host.pk)
    lighthouses = sorted(
        peers.filter(is_lighthouse=True).values_list("overlay_ip", "public_host_port"),
        key=lambda row: ipaddress.IPv4Address(row[0]),
    )
    relays = peers.filter(is_relay=True).values_list("overlay_ip", flat=True)
    key = {"key_path": host.device_key_path}
    if host.key_source == Host.KeySource.GENERATED:
        key = {"key_pem": reveal(host, "private_key")}
    return ny.render_host_config_yaml(
        ca_pem=ca.bundle,
        cert_pem=host.certificate,
        **key,
        blocklist=blocklist(ca, now),
        is_lighthouse=host.is_lighthouse,
        lighthouses=[ip for ip, _ in lighthouses],
        static_host_map={ip: [public] for ip, public in lighthouses},
        is_relay=host.is_relay,
        relays=list(relays),
        listen_port=host.listen_port,
        public_host_port=host.public_host_port or None,
        tun_dev=host.tun_device,
        mtu=host.mtu,
        unsafe_routes=host.unsafe_routes,
        firewall_inbound=host.firewall_inbound,
        firewall_outbound=host.firewall_outbound,
    )


def download_config(host: Host, *, request=None) -> str:
    """The config a person downloads (admin or API), recorded in the audit log in the same transaction: a
    download that cannot be audited does not happen."""
    if not host.active:
        raise ValidationError({"active": "This host is deactivated; its certificate is revoked."})
    with transaction.atomic():
        config = render_config(host)
        record_credential_read(obj=host, kind="nebula.config", request=request, detail={"key_source": host.key_source})
    return config


def config_filename(host: Host) -> str:
    return f"{host.hostname}.yml"


def verify_host(host: Host, now: datetime | None = None) -> nc.NebulaCertificate:
    """Check the host's certificate as its peers would (CA bundle and blocklist); raises with nebula's reason."""
    ca = host.network.ca
    cert = nc.load_certificate(host.certificate)
    pool = nc.CAPool(nc.load_certificates(ca.bundle), blocklist(ca, now))
    try:
        pool.verify(cert, now or _now())
    except nc.NebulaCertError as exc:
        raise ValidationError({"certificate": str(exc)}) from None
    return cert


# --- CA expiry -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CAExpiry:
    ca_id: int
    organization_id: int
    name: str
    not_after: datetime
    days_left: int

    @property
    def expired(self) -> bool:
        return self.days_left < 0


def expiring_cas(queryset=None, now: datetime | None = None, days: int | None = None) -> list[CAExpiry]:
    """Active CAs that expire within `days` (default `NEBULA_CA_EXPIRY_WARNING_DAYS`), soonest first."""
    now = now or _now()
    days = settings.NEBULA_CA_EXPIRY_WARNING_DAYS if days is None else days
    queryset = CertificateAuthority.objects.all() if queryset is None else queryset
    rows = queryset.filter(active=True, not_after__lte=now + timedelta(days=days)).order_by("not_after")
    return [
        CAExpiry(ca.pk, ca.organization_id, ca.name, ca.not_after, (ca.not_after - now).days)
        for ca in rows.only("pk", "organization_id", "name", "not_after")
    ]


def warn_expiring_cas(now: datetime | None = None) -> list[CAExpiry]:
    """Record one audit event per expiring CA per day (safe to run from several workers); returns them all."""
    now = now or _now()
    today: date = timezone.localdate(now)
    expiring = expiring_cas(now=now)
    for item in expiring:
        with transaction.atomic():
            # Compare-and-set: only the worker that moves the date writes the event.
            claimed = (
                CertificateAuthority.objects.filter(pk=item.ca_id)
                .exclude(expiry_warned_on=today)
                .update(expiry_warned_on=today)
            )
            if not claimed:
                continue
            log.warning("Nebula CA %s (%s) expires %s.", item.ca_id, item.name, item.not_after.isoformat())
            write_event(
                Action.UPDATE,
                obj=CertificateAuthority.objects.get(pk=item.ca_id),
                organization_id=item.organization_id,
                after={"expiry_warned_on": today},
                changed_fields=["expiry_warned_on"],
                extra={
                    "warning": "nebula.ca_expiry",
                    "not_after": item.not_after,
                    "days_left": item.days_left,
                    "expired": item.expired,
                },
            )
    return expiring


def check_nebula() -> dict:
    """Readiness detail: how many CAs expire soon. Counts only, `/readyz` is public: no tenant names."""
    expiring = expiring_cas()
    expired = [item for item in expiring if item.expired]
    result: dict = {"ok": True, "cas_expiring": len(expiring) - len(expired), "cas_expired": len(expired)}
    if expiring:
        result["soonest_expiry"] = expiring[0].not_after.isoformat()
    if expired:
        # Reported, not failed: taking the control plane out of rotation would stop the fix (a CA rotation).
        result["warning"] = "Some Nebula CAs have expired: their meshes no longer connect. Rotate them."
    return result


# --- CA rotation -----------------------------------------------------------------------------------------------


class RotationPhase:
    PREPARE = "prepare"
    COMMIT = "commit"
    FINISH = "finish"
    ALL = (PREPARE, COMMIT, FINISH)


@dataclass
class RotationResult:
    ca: CertificateAuthority
    phase: str
    hosts_resigned: int = 0


def _hosts_of(ca: CertificateAuthority):
    return Host.objects.filter(network__ca=ca)


@transaction.atomic
def rotate_ca(ca: CertificateAuthority, phase: str, *, version: int | None = None) -> RotationResult:
    """Three-phase CA rotation, so the mesh never breaks (hosts reload their config between phases):

    1. `prepare`: mint the next CA; every config trusts the current and the next one.
    2. `commit`: the next CA becomes current; every active host is re-signed by it; configs trust the
       previous and the new one. Running it again re-signs hosts that are still on the old CA.
    3. `finish`: drop the previous CA. Refused while an active host still has a certificate from it.
    """
    if phase not in RotationPhase.ALL:
        raise ValidationError({"phase": f"Use one of {', '.join(RotationPhase.ALL)}."})
    ca = lock_ca(ca)
    State = CertificateAuthority.RotationPhase
    if phase == RotationPhase.PREPARE:
        if ca.rotation_phase != State.NONE:
            raise ValidationError({"phase": f"A rotation is in progress ({ca.rotation_phase}); complete it first."})
        version = version or ca.version
        if version not in CertificateAuthority.Version.values:
            raise ValidationError({"version": "The certificate version is 1 or 2."})
        cert, key = _mint_ca(ca.name, version)
        ca.next_certificate = cert.to_pem()
        seal(ca, "next_key", nc.ed25519_private_key_to_pem(key))
        ca.rotation_phase = State.PREPARED
        ca.save()
        return RotationResult(ca, phase)

    if phase == RotationPhase.COMMIT:
        if ca.rotation_phase == State.PREPARED:
            new = nc.load_certificate(ca.next_certificate)
            key = reveal(ca, "next_key")
            ca.previous_certificate = ca.certificate
            ca.certificate = ca.next_certificate
            seal(ca, "key", key)
            ca.version = new.version
            ca.fingerprint = new.fingerprint()
            ca.not_before, ca.not_after = new.not_before_dt, new.not_after_dt
            ca.next_certificate = ""
            seal(ca, "next_key", "")
            ca.rotation_phase = State.COMMITTED
            ca.rotated_at = _now()
            ca.expiry_warned_on = None
            ca.save()
        elif ca.rotation_phase != State.COMMITTED:
            raise ValidationError({"phase": "Prepare a rotation first."})
        stale = _hosts_of(ca).filter(active=True).exclude(issuer_fingerprint=ca.fingerprint)
        count, signer = 0, _signer(ca)
        for host in stale.select_for_update(of=("self",)).select_related("network"):
            issue_certificate(host, ca=ca, signer=signer)
            count += 1
        return RotationResult(ca, phase, count)

    if ca.rotation_phase != State.COMMITTED:
        raise ValidationError({"phase": "Commit the rotation before finishing it."})
    stale = _hosts_of(ca).filter(active=True).exclude(issuer_fingerprint=ca.fingerprint).count()
    if stale:
        raise ValidationError(
            {"phase": f"{stale} active host(s) still have a certificate from the previous CA; commit again."}
        )
    ca.previous_certificate = ""
    ca.rotation_phase = State.NONE
    ca.save()
    return RotationResult(ca, phase)
