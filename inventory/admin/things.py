"""Things in the admin. Members add and edit things but never their identities (`Thing.IDENTITY_FIELDS`:
NATS user, Nebula host, active); owners and admins link identities, provision a NATS user, download a thing's
`.creds` (audited), deactivate and reactivate (NATS and Nebula together) and delete. Every action checks the
user's role in each selected thing's organization."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import transaction

from credentials.downloads.nats import creds_response
from credentials.models import Host, NatsUser
from inventory.admin.base import InventoryAdmin, InventoryForm, adopt, fresh
from inventory.admin.commands import ThingCommandsMixin
from inventory.admin.enrollment import issue_token_response
from inventory.models import Thing
from inventory.services import contracts, enrollment
from inventory.services import things as svc
from inventory.twin.panel import panel_context
from tenancy.admin_mixins import apply_each, error_text, roles_by_organization
from tenancy.roles import MANAGERS

#: What update_thing changes (identities and `active` have actions of their own).
INVENTORY_FIELDS = ("code", "name", "description", "thing_type", "location", "metadata")
#: Identity links owners and admins edit in the form (`active` only through the actions).
LINK_FIELDS = ("nats_user", "nebula_host")


def create_thing(organization, *, nats_user=None, nebula_host=None, **fields) -> Thing:
    """A new thing from the admin form, with the identities it links (if any). Through the domain action
    `inventory.services.things.create_thing` where it exists; until then the model's rules through `full_clean`,
    then saved. A NATS user of its own comes from the "Provision a NATS user" action."""
    create = getattr(svc, "create_thing", None)
    if create is not None:
        return create(
            organization=organization,
            nats_mode="link" if nats_user else "none",
            nats_user=nats_user,
            nebula_mode="link" if nebula_host else "none",
            nebula_host=nebula_host,
            **fields,
        )
    with transaction.atomic():
        thing = Thing(organization=organization, nats_user=nats_user, nebula_host=nebula_host, **fields)
        thing.full_clean()
        thing.save()
    return thing


@transaction.atomic
def provision_nats_user(thing: Thing) -> Thing:
    """Give a thing without one a NATS user issued by its type's key."""
    thing = svc.lock_thing(thing)
    if thing.nats_user_id:
        raise ValidationError("This thing has a NATS user already.")
    if not thing.active:
        raise ValidationError("Reactivate the thing first.")
    thing.nats_user = contracts.provision_thing_user(thing)
    thing.save(update_fields=["nats_user", "updated"])
    return thing


class ThingForm(InventoryForm):
    class Meta:
        model = Thing
        fields = ["organization", *INVENTORY_FIELDS, *LINK_FIELDS]

    def clean(self):
        cleaned = super().clean()
        organization = cleaned.get("organization") or getattr(self.instance, "organization", None)
        linked = [name for name in LINK_FIELDS if name in self.fields and cleaned.get(name)]
        user = self.request.user
        if linked and organization is not None and not user.is_superuser:
            manager = roles_by_organization(self.request).get(organization.pk) in MANAGERS
            for name in [] if manager else linked:
                self.add_error(name, "Only owners and admins link identities.")
        return cleaned


@admin.register(Thing)
class ThingAdmin(ThingCommandsMixin, InventoryAdmin):
    form = ThingForm
    list_display = ["code", "name", "thing_type", "location", "organization", "active", "has_nats", "has_nebula"]
    list_filter = ["active", "thing_type", "location", "organization"]
    list_select_related = ["thing_type", "location", "organization"]
    search_fields = ["code", "name", "description"]
    autocomplete_fields = ["thing_type", "location"]
    actions = [
        "provision_nats",
        "issue_enrollment_token",
        "issue_http_token",
        "download_creds",
        "deactivate",
        "reactivate",
    ]

    def get_fieldsets(self, request, obj=None):
        identity = [*LINK_FIELDS, "active"] + (["device", "created", "updated"] if obj is not None else [])
        return [
            (None, {"fields": ["organization", "code", "name", "description", "thing_type", "location"]}),
            ("Metadata", {"fields": ["metadata"], "description": "Checked against the type's metadata schema."}),
            ("Identities (owners and admins)", {"fields": identity}),
        ]

    def get_readonly_fields(self, request, obj=None):
        readonly = [*super().get_readonly_fields(request, obj), "active", "device"]
        if not self.is_manager(request, obj):
            readonly += [name for name in LINK_FIELDS if name not in readonly]
        return readonly

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        form.request = request
        return form

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name in LINK_FIELDS:
            # Unlinked identities of organizations the user manages (a thing's own NATS user: owned by a thing).
            model = db_field.related_model
            user = request.user
            queryset = model.objects.all() if user.is_superuser else model.objects.for_user(user, MANAGERS)
            if model is NatsUser:
                queryset = queryset.filter(owner_kind=NatsUser.OwnerKind.THING).select_related("account")
            if model is Host:
                queryset = queryset.select_related("network")
            object_id = request.resolver_match.kwargs.get("object_id") if request.resolver_match else None
            unlinked = queryset.filter(thing__isnull=True)
            if object_id and str(object_id).isdigit():
                unlinked = unlinked | queryset.filter(thing__pk=int(object_id))
            kwargs["queryset"] = unlinked
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        thing = self.get_object(request, object_id)
        if thing is not None and self.has_view_permission(request, thing):
            twin = panel_context(thing, "thing", can_write=self.is_manager(request, thing))
            extra_context = {**(extra_context or {}), "twin": twin}
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.display(description="NATS", boolean=True)
    def has_nats(self, obj) -> bool:
        return obj.nats_user_id is not None

    @admin.display(description="Nebula", boolean=True)
    def has_nebula(self, obj) -> bool:
        return obj.nebula_host_id is not None

    @admin.display(description="Enrolled device")
    def device(self, obj) -> str:
        """Last fetch of its config and what it is behind on (stale config, certificate or JWT expiring)."""
        if obj is None or obj.pk is None:
            return "-"
        lag = enrollment.lag(obj)
        if lag is None:
            return "No device holds this thing's key (not enrolled)."
        fetched = lag.state.last_fetch_at if lag.state else None
        last = f"last fetch {fetched:%Y-%m-%d %H:%M:%S} UTC" if fetched else "no fetch yet"
        behind = "; ".join(lag.behind) or "up to date"
        return f"{last} — {behind} (current config version {lag.current_version[:12]})"

    # --- writes through the domain actions ---------------------------------------------------------------------

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if change:
            changes = {name: data[name] for name in form.changed_data if name in (*INVENTORY_FIELDS, *LINK_FIELDS)}
            saved = svc.update_thing(fresh(obj), **changes) if changes else obj
        else:
            fields = {name: data[name] for name in (*INVENTORY_FIELDS, *LINK_FIELDS) if name in data}
            saved = create_thing(obj.organization, **fields)
        adopt(obj, saved)

    def delete_model(self, request, obj):
        svc.delete_thing(obj)

    def delete_queryset(self, request, queryset):
        for thing in queryset:  # the admin has checked the delete permission of every selected row
            svc.delete_thing(thing)

    # --- actions -----------------------------------------------------------------------------------------------

    def has_identity_permission(self, request) -> bool:
        return self.is_manager(request)

    def _managed(self, request, queryset) -> list[Thing]:
        selected = queryset.select_related("nats_user", "nebula_host", "thing_type", "location", "organization")
        return [thing for thing in selected if self.is_manager(request, thing)]

    def _each(self, request, queryset, change, verb: str) -> None:
        apply_each(self, request, self._managed(request, queryset), change, "{count} thing(s) " + verb + ".")

    @admin.action(description="Provision a NATS user (issued by the type's key)", permissions=["identity"])
    def provision_nats(self, request, queryset):
        self._each(request, queryset, provision_nats_user, "given a NATS user")

    @admin.action(description="Issue an enrollment token (one thing; shown once)", permissions=["identity"])
    def issue_enrollment_token(self, request, queryset):
        return issue_token_response(self, request, self._managed(request, queryset))

    @admin.action(description="Issue an HTTP token (one thing; shown once)", permissions=["identity"])
    def issue_http_token(self, request, queryset):
        from inventory.admin.device_tokens import issue_http_token_response

        return issue_http_token_response(self, request, self._managed(request, queryset))

    @admin.action(description="Download .creds (one thing; audited)", permissions=["identity"])
    def download_creds(self, request, queryset):
        things = self._managed(request, queryset)
        if len(things) != 1:
            self.message_user(request, "Select exactly one thing you manage to download its .creds.", messages.WARNING)
            return None
        thing = things[0]
        if thing.nats_user is None:
            self.message_user(request, f"{thing}: it has no NATS user; provision one first.", messages.ERROR)
            return None
        try:
            return creds_response(request, thing.nats_user)
        except ValidationError as exc:
            self.message_user(request, f"{thing}: {error_text(exc)}", messages.ERROR)
            return None

    @admin.action(description="Deactivate (NATS user and Nebula host too)", permissions=["identity"])
    def deactivate(self, request, queryset):
        self._each(request, queryset, svc.deactivate_thing, "deactivated")

    @admin.action(description="Reactivate (NATS user and Nebula host with fresh credentials)", permissions=["identity"])
    def reactivate(self, request, queryset):
        self._each(request, queryset, svc.reactivate_thing, "reactivated")
