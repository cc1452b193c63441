"""Nebula in the admin: CAs (read-only; platform operators rotate them), networks and hosts.

Everyone in an organization sees its CA and networks; owners and admins manage networks and hosts; auditors
see hosts but never download a config. Every action on a host checks the user's role in that host's
organization, so a selection cannot reach into an organization where the user is not a manager.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError

from credentials.codecs import nebulacert as nc
from credentials.downloads.nebula import config_response
from credentials.models import CertificateAuthority, Host, Network, RevokedCertificate
from credentials.services import nebula as svc
from tenancy.admin_mixins import OrgScopedAdminMixin, apply_each, error_text
from tenancy.roles import ALL_ROLES, MANAGERS, Role


class CAExpiryBannerMixin:
    """A warning on the changelist when a CA the user can see expires within the warning window."""

    def changelist_view(self, request, extra_context=None):
        visible = CertificateAuthority.objects.for_user(request.user)
        for item in svc.expiring_cas(visible):
            if item.expired:
                text = f"The Nebula CA “{item.name}” expired on {item.not_after:%Y-%m-%d}: its hosts cannot connect."
            else:
                text = (
                    f"The Nebula CA “{item.name}” expires on {item.not_after:%Y-%m-%d} (in {item.days_left} days). "
                    "Ask a platform operator to rotate it."
                )
            messages.warning(request, text)
        return super().changelist_view(request, extra_context)


# --- Certificate authorities ------------------------------------------------------------------------------------


@admin.register(CertificateAuthority)
class CertificateAuthorityAdmin(CAExpiryBannerMixin, OrgScopedAdminMixin, admin.ModelAdmin):
    view_roles = ALL_ROLES
    add_roles = change_roles = delete_roles = frozenset()  # created and deleted with their organization
    list_display = ["name", "organization", "active", "version", "not_after", "rotation_phase", "short_fingerprint"]
    list_filter = ["version", "rotation_phase"]
    list_select_related = ["organization"]
    search_fields = ["name", "fingerprint", "organization__name"]
    fields = [
        "organization",
        "name",
        "version",
        "fingerprint",
        "not_before",
        "not_after",
        "certificate",
        "rotation_phase",
        "next_certificate",
        "previous_certificate",
        "rotated_at",
        "created",
    ]
    readonly_fields = fields
    actions = ["prepare_rotation", "commit_rotation", "finish_rotation"]

    @admin.display(description="Fingerprint")
    def short_fingerprint(self, obj) -> str:
        return f"{obj.fingerprint[:16]}…"

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_rotate_permission(self, request) -> bool:
        return request.user.is_active and request.user.is_superuser

    def _rotate(self, request, queryset, phase: str) -> None:
        for ca in queryset:
            try:
                result = svc.rotate_ca(ca, phase)
            except ValidationError as exc:
                self.message_user(request, f"{ca}: {error_text(exc)}", messages.ERROR)
                continue
            done = f" ({result.hosts_resigned} host(s) re-signed)" if phase == svc.RotationPhase.COMMIT else ""
            self.message_user(request, f"{ca}: rotation {phase} done{done}.", messages.SUCCESS)

    @admin.action(description="Rotation 1/3 — prepare: hosts trust the current and the next CA", permissions=["rotate"])
    def prepare_rotation(self, request, queryset):
        self._rotate(request, queryset, svc.RotationPhase.PREPARE)

    @admin.action(description="Rotation 2/3 — commit: re-sign active hosts with the new CA", permissions=["rotate"])
    def commit_rotation(self, request, queryset):
        self._rotate(request, queryset, svc.RotationPhase.COMMIT)

    @admin.action(description="Rotation 3/3 — finish: stop trusting the previous CA", permissions=["rotate"])
    def finish_rotation(self, request, queryset):
        self._rotate(request, queryset, svc.RotationPhase.FINISH)


# --- Networks ---------------------------------------------------------------------------------------------------


class NetworkAdminForm(forms.ModelForm):
    class Meta:
        model = Network
        fields = ["organization", "ca", "name", "cidr", "description"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "ca" in self.fields:
            self.fields["ca"].required = False
            self.fields["ca"].help_text = "Empty: the organization's certificate authority."

    def clean(self):
        cleaned = super().clean()
        organization = cleaned.get("organization")
        if "ca" in self.fields and not cleaned.get("ca") and organization is not None:
            cleaned["ca"] = svc.ensure_ca(organization)
            self.instance.ca = cleaned["ca"]
        return cleaned


@admin.register(Network)
class NetworkAdmin(CAExpiryBannerMixin, OrgScopedAdminMixin, admin.ModelAdmin):
    form = NetworkAdminForm
    view_roles = ALL_ROLES
    list_display = ["name", "cidr", "organization", "ca", "created"]
    list_filter = ["organization"]
    list_select_related = ["organization", "ca"]
    search_fields = ["name", "cidr", "description"]

    def get_readonly_fields(self, request, obj=None):
        return ["organization", "ca", "created", "updated"] if obj is not None else []

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        formfield = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "ca" and formfield is not None and not request.user.is_superuser:
            formfield.queryset = CertificateAuthority.objects.filter(
                organization__in=self.writable_organizations(request), active=True
            )
        return formfield

    def save_model(self, request, obj, form, change):
        if change:
            changes = {
                name: form.cleaned_data[name] for name in form.changed_data if name in ("name", "cidr", "description")
            }
            updated = svc.update_network(obj, **changes)
        else:
            updated = svc.create_network(
                organization=obj.organization,
                ca=obj.ca,
                name=obj.name,
                cidr=obj.cidr,
                description=obj.description,
            )
        obj.pk, obj.created, obj.updated = updated.pk, updated.created, updated.updated
        obj._state.adding = False


# --- Hosts ------------------------------------------------------------------------------------------------------


class HostAdminForm(forms.ModelForm):
    device_public_key = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "cols": 70}),
        help_text=(
            "Optional: the device's X25519 public key (the .pub file of `nebula-cert keygen`). The device keeps "
            "its private key and its config points at the key path. Empty: a key pair is generated here."
        ),
    )

    class Meta:
        model = Host
        fields = ["network", *svc.UPDATABLE_FIELDS]

    def clean_device_public_key(self):
        value = self.cleaned_data.get("device_public_key", "").strip()
        if value:
            try:
                svc.parse_device_public_key(value)
            except ValidationError as exc:
                raise ValidationError(exc.messages) from None
        return value

    def clean(self):
        cleaned = super().clean()
        network = cleaned.get("network") if "network" in self.fields else self.instance.network
        # The address is allocated here, not in `create_host`, so that a full network is a form error.
        if network is not None and "overlay_ip" in self.fields and not cleaned.get("overlay_ip"):
            if self.instance.pk:
                cleaned["overlay_ip"] = self.instance.overlay_ip
            else:
                try:
                    cleaned["overlay_ip"] = svc.allocate_ip(network)
                except ValidationError as exc:
                    self.add_error("overlay_ip", error_text(exc))
        return cleaned


@admin.register(Host)
class HostAdmin(CAExpiryBannerMixin, OrgScopedAdminMixin, admin.ModelAdmin):
    form = HostAdminForm
    view_roles = MANAGERS | {Role.AUDITOR}
    list_display = ["hostname", "overlay_ip", "network", "organization", "roles", "active", "not_after"]
    list_filter = ["active", "is_lighthouse", "is_relay", "key_source", "organization"]
    list_select_related = ["network", "organization"]
    search_fields = ["hostname", "overlay_ip", "fingerprint"]
    actions = ["download_config", "renew", "rekey", "deactivate", "reactivate"]
    certificate_fields = [
        "active",
        "key_source",
        "public_key",
        "fingerprint",
        "issuer_fingerprint",
        "not_before",
        "not_after",
        "certificate_groups",
        "certificate_networks",
        "certificate_status",
        "certificate",
    ]

    def get_fieldsets(self, request, obj=None):
        form_fields = list(HostAdminForm.Meta.fields)
        if obj is None:
            form_fields.insert(form_fields.index("key_path"), "device_public_key")
            return [(None, {"fields": form_fields})]
        return [(None, {"fields": form_fields}), ("Certificate", {"fields": self.certificate_fields})]

    def get_readonly_fields(self, request, obj=None):
        return ["network", *self.certificate_fields] if obj is not None else []

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        # Only networks of organizations where the user manages hosts (the host joins the network's organization).
        formfield = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "network" and formfield is not None and not request.user.is_superuser:
            formfield.queryset = Network.objects.filter(organization__in=self.writable_organizations(request))
        return formfield

    @admin.display(description="Role")
    def roles(self, obj) -> str:
        return ", ".join(name for flag, name in ((obj.is_lighthouse, "lighthouse"), (obj.is_relay, "relay")) if flag)

    @admin.display(description="Groups in the certificate")
    def certificate_groups(self, obj) -> str:
        return ", ".join(nc.load_certificate(obj.certificate).groups) if obj.certificate else ""

    @admin.display(description="Networks in the certificate")
    def certificate_networks(self, obj) -> str:
        if not obj.certificate:
            return ""
        cert = nc.load_certificate(obj.certificate)
        unsafe = [str(n) for n in cert.unsafe_networks]
        return ", ".join(str(n) for n in cert.networks) + (f" (unsafe: {', '.join(unsafe)})" if unsafe else "")

    @admin.display(description="Status")
    def certificate_status(self, obj) -> str:
        if not obj.certificate:
            return "no certificate"
        try:
            svc.verify_host(obj)
        except ValidationError as exc:
            return f"refused by peers: {error_text(exc)}"
        return "valid"

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if change:
            changes = {name: data[name] for name in form.changed_data if name in svc.UPDATABLE_FIELDS}
            saved = svc.update_host(obj, **changes)
        else:
            fields = {name: data[name] for name in HostAdminForm.Meta.fields if name not in ("network", "hostname")}
            saved = svc.create_host(
                network=data["network"],
                hostname=data["hostname"],
                public_key=data.get("device_public_key") or None,
                **fields,
            )
        obj.pk = saved.pk
        obj._state.adding = False

    def delete_queryset(self, request, queryset):
        super().delete_queryset(request, queryset.filter(pk__in=[h.pk for h in self._managed(request, queryset)]))

    def has_config_permission(self, request) -> bool:
        return self.has_change_permission(request)

    def _managed(self, request, queryset) -> list[Host]:
        """The selected hosts in organizations where the user may manage hosts."""
        return [host for host in queryset.select_related("network__ca") if self.has_change_permission(request, host)]

    @admin.action(description="Download the Nebula config (one host; audited)", permissions=["config"])
    def download_config(self, request, queryset):
        hosts = self._managed(request, queryset)
        if len(hosts) != 1:
            self.message_user(request, "Select exactly one host to download its config.", messages.WARNING)
            return None
        host = hosts[0]
        try:
            return config_response(request, host)
        except ValidationError as exc:
            self.message_user(request, f"{host}: {error_text(exc)}", messages.ERROR)
            return None

    def _each(self, request, queryset, change, verb: str) -> None:
        apply_each(self, request, self._managed(request, queryset), change, "{count} host(s) " + verb + ".")

    @admin.action(description="Renew the certificate", permissions=["change"])
    def renew(self, request, queryset):
        self._each(request, queryset, svc.renew_host, "renewed")

    @admin.action(description="Deactivate (revoke the certificate)", permissions=["change"])
    def deactivate(self, request, queryset):
        self._each(request, queryset, svc.deactivate_host, "deactivated")

    @admin.action(description="Rekey (new key pair and certificate; the old one is revoked)", permissions=["change"])
    def rekey(self, request, queryset):
        self._each(request, queryset, svc.rekey_host, "rekeyed: download their configs again")

    @admin.action(description="Reactivate (new certificate; a generated key pair is replaced)", permissions=["change"])
    def reactivate(self, request, queryset):
        self._each(request, queryset, svc.reactivate_host, "reactivated")


@admin.register(RevokedCertificate)
class RevokedCertificateAdmin(OrgScopedAdminMixin, admin.ModelAdmin):
    """The blocklist entries: read-only, they leave the configs when the certificate expires."""

    view_roles = MANAGERS | {Role.AUDITOR}
    add_roles = change_roles = delete_roles = frozenset()
    list_display = ["host_name", "network", "reason", "revoked_at", "not_after", "fingerprint"]
    list_filter = ["reason"]
    list_select_related = ["network"]
    search_fields = ["host_name", "fingerprint"]
    readonly_fields = ["network", "host_name", "fingerprint", "reason", "revoked_at", "not_after"]
    fields = readonly_fields

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
