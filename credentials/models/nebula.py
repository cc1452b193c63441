"""Nebula mesh PKI: one certificate authority per organization → networks (IPv4 CIDR) → hosts.

Private keys (the CA's, and a host's when we generate it) are `EncryptedSecretField`s. Host configs are not
stored: `credentials.services.nebula.render_config` builds them on demand, so a host's private key is only
decrypted when someone downloads its config (an audited read).

Revocation: a `RevokedCertificate` row per withdrawn certificate (host deactivated, deleted, or re-issued with
a different identity or key pair), kept until the certificate expires. Every host of the CA carries the
unexpired ones in `pki.blocklist`.

Addressing: the networks of one CA do not overlap, and an overlay IP is unique per CA (`Host.ca`), so no two
hosts of one trust domain share an address.
"""

from __future__ import annotations

import ipaddress
import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from credentials.codecs import nebulayaml
from credentials.secrets import EncryptedSecretField
from tenancy.models import Organization
from tenancy.scoping import OrgScopedManager

MAX_UNSAFE_NETWORKS = 16
MAX_UNSAFE_ROUTES = 32
MAX_GROUPS = 32
MAX_FIREWALL_RULES = 100

validate_hostname = RegexValidator(
    r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,98}[A-Za-z0-9])?$",
    "Use 1-100 letters, digits, dots, hyphens or underscores, starting and ending with a letter or digit.",
)
validate_tun_device = RegexValidator(r"^[A-Za-z0-9_-]{1,15}$", "Use 1-15 letters, digits, hyphens or underscores.")
_GROUP = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,63}$")


def validate_cidr(value: str) -> None:
    """An IPv4 network address in CIDR notation with room for at least two hosts, e.g. `10.42.0.0/24`."""
    try:
        network = ipaddress.IPv4Network(value, strict=False)
    except ValueError:
        raise ValidationError("Enter an IPv4 network in CIDR notation, e.g. 10.42.0.0/24.") from None
    if "/" not in value:
        raise ValidationError("Enter a prefix length too, e.g. 10.42.0.0/24.")
    if str(network) != value.strip():
        raise ValidationError(f"{value} has host bits set; the network address is {network}.")
    if network.prefixlen > 30:
        raise ValidationError("The network needs room for at least two hosts (a prefix of /30 or shorter).")


def validate_groups(value) -> None:
    if not isinstance(value, list):
        raise ValidationError("Enter a list of group names.")
    if len(value) > MAX_GROUPS:
        raise ValidationError(f"A host has at most {MAX_GROUPS} groups.")
    errors = [
        f"{g!r} is not a valid group name (letters, digits and . _ : @ / -, up to 64 characters)."
        for g in value
        if not isinstance(g, str) or not _GROUP.match(g)
    ]
    if errors:
        raise ValidationError(errors)
    if len(set(value)) != len(value):
        raise ValidationError("Each group may appear only once.")


def validate_public_host_port(value: str) -> None:
    try:
        nebulayaml.parse_host_port(value)
    except nebulayaml.NebulaConfigError as exc:
        raise ValidationError(f"{exc}; use host:port, e.g. 203.0.113.10:4242 or [2001:db8::1]:4242.") from None


def validate_firewall(value) -> None:
    if value is None:
        return
    if isinstance(value, list) and len(value) > MAX_FIREWALL_RULES:
        raise ValidationError(f"At most {MAX_FIREWALL_RULES} rules.")
    try:
        nebulayaml.validate_firewall_rules(value, "rules")
    except nebulayaml.NebulaConfigError as exc:
        raise ValidationError(str(exc)) from None


def validate_unsafe_networks(value) -> None:
    """IPv4 networks in canonical form, at most 16, none overlapping another."""
    if not isinstance(value, list):
        raise ValidationError("Enter a list of IPv4 networks in CIDR notation.")
    if len(value) > MAX_UNSAFE_NETWORKS:
        raise ValidationError(f"At most {MAX_UNSAFE_NETWORKS} unsafe networks.")
    networks = []
    for item in value:
        if not isinstance(item, str):
            raise ValidationError(f"{item!r} is not a CIDR string.")
        validate_cidr_any_size(item)
        networks.append(ipaddress.IPv4Network(item))
    for i, a in enumerate(networks):
        for b in networks[i + 1 :]:
            if a.overlaps(b):
                raise ValidationError(f"Unsafe networks {a} and {b} overlap.")


def validate_cidr_any_size(value: str) -> None:
    try:
        network = ipaddress.IPv4Network(value, strict=False)
    except ValueError:
        raise ValidationError(f"{value!r} is not an IPv4 network in CIDR notation.") from None
    if "/" not in value or str(network) != value.strip():
        raise ValidationError(f"{value} is not canonical; write it as {network}.")


def validate_unsafe_routes(value) -> None:
    if isinstance(value, list) and len(value) > MAX_UNSAFE_ROUTES:
        raise ValidationError(f"At most {MAX_UNSAFE_ROUTES} unsafe routes.")
    try:
        nebulayaml.validate_unsafe_routes(value)
    except nebulayaml.NebulaConfigError as exc:
        raise ValidationError(str(exc)) from None


def default_host_validity_days() -> int:
    return settings.NEBULA_HOST_VALIDITY_DAYS


class CertificateAuthority(models.Model):
    """An organization's Nebula CA. Rotation happens in place, in three phases (see `RotationPhase`)."""

    class Version(models.IntegerChoices):
        V1 = 1, "v1 (every nebula release)"
        V2 = 2, "v2 (nebula 1.10 and later)"

    class RotationPhase(models.TextChoices):
        NONE = "", "Not rotating"
        PREPARED = "prepared", "Prepared: hosts trust the current and the next CA"
        COMMITTED = "committed", "Committed: hosts re-signed by the new CA, the previous one still trusted"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="nebula_cas")
    active = models.BooleanField(default=True, editable=False)
    name = models.CharField(max_length=100, editable=False)
    version = models.PositiveSmallIntegerField(choices=Version.choices, default=Version.V1, editable=False)
    certificate = models.TextField(editable=False, help_text="PEM of the current CA certificate.")
    key = EncryptedSecretField()
    fingerprint = models.CharField(max_length=64, unique=True, editable=False)
    not_before = models.DateTimeField(editable=False)
    not_after = models.DateTimeField(editable=False)

    rotation_phase = models.CharField(
        max_length=10, choices=RotationPhase.choices, default=RotationPhase.NONE, blank=True, editable=False
    )
    next_certificate = models.TextField(blank=True, editable=False)
    next_key = EncryptedSecretField()
    previous_certificate = models.TextField(blank=True, editable=False)
    rotated_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Used by the daily expiry warning (credentials.tasks.nebula) to record one audit event per CA per day.
    expiry_warned_on = models.DateField(null=True, blank=True, editable=False)

    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    objects = OrgScopedManager()

    class Meta:
        ordering = ["organization__name", "-created"]
        verbose_name = "Nebula certificate authority"
        verbose_name_plural = "Nebula certificate authorities"
        constraints = [
            models.UniqueConstraint(
                fields=["organization"], condition=Q(active=True), name="nebula_one_active_ca_per_org"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def bundle(self) -> str:
        """The CA certificates every host of this CA trusts right now (two during a rotation)."""
        if self.rotation_phase == self.RotationPhase.PREPARED and self.next_certificate:
            return self.certificate + self.next_certificate
        if self.rotation_phase == self.RotationPhase.COMMITTED and self.previous_certificate:
            return self.previous_certificate + self.certificate
        return self.certificate

    def days_left(self, now=None) -> int:
        return (self.not_after - (now or timezone.now())).days


class Network(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="nebula_networks")
    # RESTRICT (not PROTECT): a CA cannot be deleted under its networks, except when the whole organization goes.
    ca = models.ForeignKey(CertificateAuthority, on_delete=models.RESTRICT, related_name="networks")
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    cidr = models.CharField(
        max_length=18, validators=[validate_cidr], help_text="IPv4 network address and prefix, e.g. 10.42.0.0/24."
    )
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    objects = OrgScopedManager()

    class Meta:
        ordering = ["name"]
        verbose_name = "Nebula network"
        constraints = [
            models.UniqueConstraint(fields=["ca", "name"], name="nebula_network_unique_name"),
            models.UniqueConstraint(fields=["ca", "cidr"], name="nebula_network_unique_cidr"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.cidr})"

    @property
    def ip_network(self) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Network(self.cidr)

    def clean(self) -> None:
        if self.ca_id and self.organization_id and self.ca.organization_id != self.organization_id:
            raise ValidationError({"ca": "This certificate authority belongs to another organization."})
        if not self.ca_id:
            return
        # Field-level messages for the unique constraints (which stay as the database's guarantee).
        siblings = Network.objects.filter(ca_id=self.ca_id).exclude(pk=self.pk)
        errors = {}
        if self.name and siblings.filter(name=self.name).exists():
            errors["name"] = "This certificate authority already has a network with this name."
        other = self._overlapping(siblings)
        if other is not None:
            errors["cidr"] = (
                f"{self.cidr} overlaps the network “{other.name}” ({other.cidr}) of the same certificate authority, "
                f"whose hosts could then get the same address: choose a range outside {other.cidr}."
            )
        if errors:
            raise ValidationError(errors)

    def _overlapping(self, siblings) -> Network | None:
        """A network of the same CA whose range overlaps this one, when this range is new or changed.

        Ranges that overlapped before this rule existed are left alone: their hosts' addresses are unique per CA
        all the same (`Host.ca`). The caller holds the CA's row lock, so two requests cannot both pass.
        """
        try:
            mine = ipaddress.IPv4Network(self.cidr)
        except (TypeError, ValueError):
            return None  # reported by the field validator
        if self.pk is not None and Network.objects.filter(pk=self.pk, cidr=self.cidr).exists():
            return None
        for other in siblings.only("pk", "name", "cidr").order_by("cidr"):
            try:
                if ipaddress.IPv4Network(other.cidr).overlaps(mine):
                    return other
            except ValueError:
                continue
        return None


class Host(models.Model):
    class KeySource(models.TextChoices):
        GENERATED = "generated", "Generated here (delivered in the config)"
        DEVICE = "device", "Held by the device (public key supplied)"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="nebula_hosts")
    # RESTRICT: a network with hosts cannot be deleted (delete the hosts first, which revokes them), except
    # when the whole organization goes.
    network = models.ForeignKey(Network, on_delete=models.RESTRICT, related_name="hosts")
    # The network's CA, copied so that the database keeps an overlay IP unique per CA (one trust domain), not
    # only per network. `save` keeps it in step with the network.
    ca = models.ForeignKey(CertificateAuthority, on_delete=models.RESTRICT, related_name="hosts", editable=False)
    hostname = models.CharField(max_length=100, validators=[validate_hostname], help_text="The certificate name.")
    overlay_ip = models.GenericIPAddressField(
        protocol="IPv4", null=True, blank=True, help_text="Inside the network; the next free address when empty."
    )
    groups = models.JSONField(default=list, blank=True, validators=[validate_groups])
    is_lighthouse = models.BooleanField(default=False)
    is_relay = models.BooleanField(default=False)
    public_host_port = models.CharField(
        max_length=300,
        blank=True,
        validators=[validate_public_host_port],
        help_text="Public address peers reach this host at (host:port); required for lighthouses and relays.",
    )
    listen_port = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MaxValueValidator(65535)],
        help_text="UDP port to listen on; empty = the public port for lighthouses and relays, else random (0).",
    )
    firewall_inbound = models.JSONField(
        null=True, blank=True, validators=[validate_firewall], help_text="Nebula rules; empty = allow ICMP only."
    )
    firewall_outbound = models.JSONField(
        null=True, blank=True, validators=[validate_firewall], help_text="Nebula rules; empty = allow everything."
    )
    unsafe_networks = models.JSONField(
        default=list, blank=True, validators=[validate_unsafe_networks], help_text="Networks this host routes to."
    )
    unsafe_routes = models.JSONField(
        default=list, blank=True, validators=[validate_unsafe_routes], help_text="[{route, via}] for tun."
    )
    mtu = models.PositiveIntegerField(default=1300, validators=[MinValueValidator(576), MaxValueValidator(9216)])
    tun_device = models.CharField(max_length=15, default="nebula1", validators=[validate_tun_device])
    validity_days = models.PositiveIntegerField(
        default=default_host_validity_days,
        validators=[MinValueValidator(1), MaxValueValidator(3650)],
        help_text="Certificate lifetime (capped by the CA's expiry).",
    )

    key_source = models.CharField(max_length=10, choices=KeySource.choices, default=KeySource.GENERATED, editable=False)
    public_key = models.CharField(max_length=64, editable=False, help_text="X25519 public key, hex.")
    private_key = EncryptedSecretField()
    key_path = models.CharField(
        max_length=255,
        blank=True,
        help_text="Where the device keeps its private key (device-held keys only); empty = the platform default.",
    )

    certificate = models.TextField(blank=True, editable=False)
    fingerprint = models.CharField(max_length=64, blank=True, db_index=True, editable=False)
    issuer_fingerprint = models.CharField(max_length=64, blank=True, editable=False)
    not_before = models.DateTimeField(null=True, blank=True, editable=False)
    not_after = models.DateTimeField(null=True, blank=True, editable=False)
    active = models.BooleanField(default=True, editable=False)

    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    objects = OrgScopedManager()

    class Meta:
        ordering = ["hostname"]
        verbose_name = "Nebula host"
        constraints = [
            models.UniqueConstraint(fields=["network", "hostname"], name="nebula_host_unique_hostname"),
            models.UniqueConstraint(fields=["ca", "overlay_ip"], name="nebula_host_unique_ca_ip"),
        ]
        # The organization's list, in its order.
        indexes = [models.Index(fields=["organization", "hostname"], name="nebula_host_org_hostname")]

    def __str__(self) -> str:
        return self.hostname

    def save(self, *args, **kwargs) -> None:
        if self.network_id is not None:
            self.ca_id = self.network.ca_id
        super().save(*args, **kwargs)

    @property
    def device_key_path(self) -> str:
        return self.key_path or settings.NEBULA_DEVICE_KEY_PATH

    def clean(self) -> None:
        network = self.network if self.network_id else None
        errors: dict[str, str] = {}
        if network is not None:
            # A host belongs to its network's organization and CA.
            if self.organization_id is None:
                self.organization_id = network.organization_id
            if network.organization_id != self.organization_id:
                raise ValidationError({"network": "This network belongs to another organization."})
            self.ca_id = network.ca_id
            if self.pk is None and network.ca.not_after <= timezone.now():
                errors["network"] = "The certificate authority has expired; it must be rotated before hosts are added."
        if (self.is_lighthouse or self.is_relay) and not self.public_host_port:
            errors["public_host_port"] = "Lighthouses and relays need a public host:port that peers can reach."
        if self.key_path and ("\n" in self.key_path or "\0" in self.key_path):
            errors["key_path"] = "Enter a file path."
        if network is not None:
            self._check_addresses(network, errors)
        if errors:
            raise ValidationError(errors)

    def _address_holder(self, ca_id: int, ip: str) -> Host | None:
        """Another host of the CA with this overlay IP (addresses are unique per CA, across its networks)."""
        others = Host.objects.filter(ca_id=ca_id, overlay_ip=ip).exclude(pk=self.pk).select_related("network")
        return others.first()

    def _check_addresses(self, network: Network, errors: dict[str, str]) -> None:
        """The overlay IP, unsafe networks and routes against the network (values the field validators
        refuse are skipped here: they are reported once, by the field)."""
        overlay = network.ip_network
        siblings = Host.objects.filter(network=network).exclude(pk=self.pk)
        try:
            ip = ipaddress.IPv4Address(self.overlay_ip) if self.overlay_ip else None
        except ValueError:
            ip = None
        if ip is not None:
            if ip not in overlay:
                errors["overlay_ip"] = f"{ip} is outside the network {overlay}."
            elif ip == overlay.network_address:
                errors["overlay_ip"] = f"{ip} is the network's network address."
            elif ip == overlay.broadcast_address:
                errors["overlay_ip"] = f"{ip} is the network's broadcast address."
            else:
                holder = self._address_holder(network.ca_id, str(ip))
                if holder is not None and holder.network_id == network.pk:
                    errors["overlay_ip"] = f"{ip} is already used in this network."
                elif holder is not None:
                    errors["overlay_ip"] = (
                        f"{ip} is already used by the host “{holder.hostname}” of the network “{holder.network.name}” "
                        "under the same certificate authority."
                    )
        if self.hostname and siblings.filter(hostname=self.hostname).exists():
            errors["hostname"] = "This network already has a host with this name."
        for item in self.unsafe_networks if isinstance(self.unsafe_networks, list) else []:
            try:
                if ipaddress.IPv4Network(item).overlaps(overlay):
                    errors["unsafe_networks"] = f"Unsafe network {item} overlaps the overlay network {overlay}."
            except (ValueError, TypeError):
                pass
        for route in self.unsafe_routes if isinstance(self.unsafe_routes, list) else []:
            via = route.get("via") if isinstance(route, dict) else None
            try:
                if via is not None and ipaddress.ip_address(str(via)) not in overlay:
                    errors["unsafe_routes"] = f"Route via {via} is outside the overlay network {overlay}."
            except ValueError:
                pass


class RevokedCertificate(models.Model):
    """A withdrawn host certificate: on the blocklist of every host of the CA until it expires.

    The row belongs to the CA that signed the certificate, not to the host's network: deleting the host or
    its network keeps it (the certificate stays valid for the CA's other networks until it expires, so it
    must stay blocked). It goes only with the CA, i.e. with the organization.
    """

    class Reason(models.TextChoices):
        DEACTIVATED = "deactivated", "Host deactivated"
        DELETED = "deleted", "Host deleted"
        SUPERSEDED = "superseded", "Re-issued with a different identity"
        REKEYED = "rekeyed", "Re-issued with a new key pair"

    org_lookup = "ca__organization"

    ca = models.ForeignKey(CertificateAuthority, on_delete=models.CASCADE, related_name="revocations")
    network = models.ForeignKey(
        Network,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="revocations",
        help_text="The network the host was in (empty once that network is deleted).",
    )
    fingerprint = models.CharField(max_length=64)
    not_after = models.DateTimeField(help_text="When the certificate expires; it leaves the blocklist then.")
    host_name = models.CharField(max_length=100)
    reason = models.CharField(max_length=12, choices=Reason.choices)
    revoked_at = models.DateTimeField(auto_now_add=True)

    objects = OrgScopedManager()

    class Meta:
        ordering = ["-revoked_at"]
        verbose_name = "revoked Nebula certificate"
        constraints = [
            models.UniqueConstraint(fields=["ca", "fingerprint"], name="nebula_revoked_unique_ca_fingerprint")
        ]

    def __str__(self) -> str:
        return f"{self.host_name} {self.fingerprint[:16]}… ({self.get_reason_display()})"
