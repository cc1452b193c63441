"""NATS in the admin: accounts, roles, users, exports and imports; the operator and pending account deletions
for platform operators.

Everyone in an organization sees its account; only platform operators change limits or suspend it. Owners
and admins manage roles, users, exports, imports and signing keys; auditors read them but never download
credentials. Seeds are never rendered; the `.creds` download is the one audited way a seed leaves. Every
action checks the user's role in each selected row's organization, so a selection cannot reach into an
organization where the user is not a manager.
"""

from __future__ import annotations

from datetime import UTC, datetime

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Q
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from credentials import push
from credentials.downloads.nats import creds_response
from credentials.models import (
    Account,
    AccountExport,
    AccountImport,
    AccountSigningKey,
    AccountTombstone,
    NatsRole,
    NatsUser,
    Operator,
    OperatorSigningKey,
)
from credentials.services import nats as svc
from tenancy.admin_mixins import ListFilterLookupsOnlyMixin, OrgScopedAdminMixin, apply_each, error_text
from tenancy.models import Membership
from tenancy.roles import ALL_ROLES, MANAGERS, Role

#: Read NATS roles, users, exports and imports (never credentials).
NATS_READERS = MANAGERS | {Role.AUDITOR}
SUBJECT_LISTS = ("publish_allow", "publish_deny", "subscribe_allow", "subscribe_deny")


class SubjectListFormField(forms.CharField):
    """A list of NATS subjects edited as text, one subject per line; each bad subject is named."""

    widget = forms.Textarea(attrs={"rows": 3, "cols": 60, "spellcheck": "false"})

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("strip", False)
        super().__init__(**kwargs)
        self.help_text = " ".join(filter(None, [self.help_text, "One subject per line; empty = nothing."]))

    def prepare_value(self, value):
        return "\n".join(value) if isinstance(value, list | tuple) else value

    def to_python(self, value):
        text = super().to_python(value) or ""
        return list(dict.fromkeys(line.strip() for line in text.splitlines() if line.strip()))


class SubjectListsForm(forms.ModelForm):
    """Subjects are validated by the model fields (each bad one named)."""

    publish_allow = SubjectListFormField(label="Publish allow")
    publish_deny = SubjectListFormField(label="Publish deny")
    subscribe_allow = SubjectListFormField(label="Subscribe allow")
    subscribe_deny = SubjectListFormField(label="Subscribe deny")

    def organization(self):
        return self.cleaned_data.get("organization") or getattr(self.instance, "organization", None)


class PlatformOnlyAdmin(ListFilterLookupsOnlyMixin, admin.ModelAdmin):
    """Read-only, and only for platform operators."""

    def has_module_permission(self, request) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_view_permission(self, request, obj=None) -> bool:
        return self.has_module_permission(request)

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


# --- Operator and account deletions (platform operators) --------------------------------------------------------


class OperatorSigningKeyInline(admin.TabularInline):
    model = OperatorSigningKey
    fields = ["public_key", "created"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Operator)
class OperatorAdmin(PlatformOnlyAdmin):
    list_display = ["name", "public_key", "updated"]
    fields = ["name", "public_key", "jwt", "created", "updated"]
    readonly_fields = fields
    inlines = [OperatorSigningKeyInline]


@admin.register(AccountTombstone)
class AccountTombstoneAdmin(PlatformOnlyAdmin):
    list_display = ["name", "public_key", "created", "done_at", "attempts", "last_error"]
    list_filter = [("done_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "public_key"]
    fields = list_display
    readonly_fields = fields


# --- Accounts ----------------------------------------------------------------------------------------------------


class PushStateFilter(admin.SimpleListFilter):
    title = "push state"
    parameter_name = "push"

    def lookups(self, request, model_admin):
        return [("synced", "In sync"), ("pending", "Pending"), ("failing", "Failing")]

    def queryset(self, request, queryset):
        behind = queryset.behind()
        if self.value() == "synced":
            return queryset.exclude(pk__in=behind.values("pk"))
        if self.value() == "pending":
            return behind.filter(push_error="")
        if self.value() == "failing":
            return behind.exclude(push_error="")
        return queryset


class AccountSigningKeyInline(admin.TabularInline):
    model = AccountSigningKey
    fields = ["public_key", "scope", "created", "remove"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name = "signing key (the newest unscoped one signs new users; a scoped one signs its scope's users)"

    def has_view_permission(self, request, obj=None) -> bool:
        return True  # shown on the account's page, which is already scoped to the user's organizations

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="Scope")
    def scope(self, key) -> str:
        if not key.is_scoped:
            return "—"
        return key.scope_role or "(unnamed scope)"

    @admin.display(description="")
    def remove(self, key) -> str:
        # A scoped key goes with its scope; an account keeps one unscoped key at least.
        if not key.pk or key.is_scoped or svc.unscoped_signing_keys(key.account).count() < 2:
            return ""
        url = reverse("admin:credentials_account_remove_signing_key", args=[key.account_id, key.pk])
        return format_html('<a href="{}">Remove…</a>', url)


@admin.register(Account)
class AccountAdmin(OrgScopedAdminMixin, admin.ModelAdmin):
    view_roles = ALL_ROLES
    add_roles = change_roles = delete_roles = frozenset()  # platform operators only
    list_display = [
        "name",
        "organization",
        "active",
        "suspended",
        "revision",
        "pushed_revision",
        "push_state",
        "pushed_at",
        "short_push_error",
    ]
    list_filter = ["active", "suspended", PushStateFilter]
    list_select_related = ["organization"]
    search_fields = ["name", "public_key", "organization__name"]
    inlines = [AccountSigningKeyInline]
    actions = ["push_now", "add_signing_key", "rotate_signing_keys"]
    editable_fields = Account.EDITABLE_FIELDS
    fieldsets = [
        (None, {"fields": ["name", "organization", "public_key", "active", "suspended"]}),
        (
            "Limits",
            {
                "fields": list(Account.LIMIT_FIELDS),
                "description": "-1 = unlimited, 0 = none. JetStream is off when both JetStream sizes are 0.",
            },
        ),
        ("Push to NATS", {"fields": ["push_state", "revision", "pushed_revision", "pushed_at", "push_error"]}),
        ("Signed JWT", {"fields": ["revoked_keys", "jwt"], "classes": ["collapse"]}),
    ]
    readonly_fields = [
        "name",
        "organization",
        "public_key",
        "active",
        "push_state",
        "revision",
        "pushed_revision",
        "pushed_at",
        "push_error",
        "revoked_keys",
        "jwt",
    ]

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.is_system:
            # The system account's claims are fixed; suspending it would cut the platform off NATS.
            return [*self.readonly_fields, *self.editable_fields]
        return self.readonly_fields

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # an account is deleted with its organization

    def has_push_permission(self, request) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_keys_permission(self, request, obj=None) -> bool:
        return self._allowed(request, MANAGERS, obj)

    @admin.display(description="Push state")
    def push_state(self, obj: Account) -> str:
        # Classes styled with the admin's theme variables (templates/admin/stoneage_style.html), light or dark.
        if not obj.push_pending:
            return format_html('<span class="state state-ok">{}</span>', "✔ in sync")
        if obj.push_error:
            return format_html('<span class="state state-error">✖ failing (revision {})</span>', obj.revision)
        return format_html(
            '<span class="state state-warning">… pending ({} → {})</span>', obj.pushed_revision, obj.revision
        )

    @admin.display(description="Push error")
    def short_push_error(self, obj: Account) -> str:
        return obj.push_error if len(obj.push_error) <= 80 else obj.push_error[:79] + "…"

    @admin.display(description="Revoked user keys")
    def revoked_keys(self, obj: Account) -> str:
        revocations = sorted((obj.revocations or {}).items(), key=lambda item: item[1], reverse=True)
        if not revocations:
            return "—"
        rows = (
            (key, datetime.fromtimestamp(int(at), tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")) for key, at in revocations
        )
        return format_html("<ul>{}</ul>", format_html_join("", "<li><code>{}</code> since {}</li>", rows))

    def save_model(self, request, obj, form, change):
        changes = {name: form.cleaned_data[name] for name in form.changed_data if name in self.editable_fields}
        if changes:
            svc.update_account(obj, **changes)

    def _managed(self, request, queryset) -> list[Account]:
        return [account for account in queryset if self.has_keys_permission(request, account)]

    @admin.action(description="Push now (synchronously)", permissions=["push"])
    def push_now(self, request, queryset):
        report = push.push(list(queryset))
        if report.pushed:
            self.message_user(request, f"Pushed: {', '.join(report.pushed)}.", messages.SUCCESS)
        for label, error in report.failed.items():
            self.message_user(request, f"{label}: {error}", messages.ERROR)

    @admin.action(description="Add a signing key (it signs new users)", permissions=["keys"])
    def add_signing_key(self, request, queryset):
        accounts = self._managed(request, queryset)
        for account in accounts:
            svc.add_signing_key(account)
        if accounts:
            self.message_user(request, f"Added a signing key to {len(accounts)} account(s).", messages.SUCCESS)

    @admin.action(description="Rotate signing keys (emergency: every user is reissued)", permissions=["keys"])
    def rotate_signing_keys(self, request, queryset):
        for account in self._managed(request, queryset):
            reissued = svc.rotate_signing_keys(account)
            self.message_user(
                request,
                f"{account}: signing keys replaced; {reissued} user(s) reissued. Devices must fetch new credentials.",
                messages.WARNING,
            )

    def get_urls(self):
        return [
            path(
                "<path:object_id>/signing-keys/<int:key_id>/remove/",
                self.admin_site.admin_view(self.remove_signing_key_view),
                name="credentials_account_remove_signing_key",
            ),
            *super().get_urls(),
        ]

    def remove_signing_key_view(self, request, object_id, key_id):
        account = get_object_or_404(self.get_queryset(request), pk=object_id)
        if not self.has_keys_permission(request, account):
            raise PermissionDenied
        key = get_object_or_404(AccountSigningKey, pk=key_id, account=account)
        change_url = reverse("admin:credentials_account_change", args=[account.pk])
        if request.method == "POST":
            try:
                reissued = svc.remove_signing_key(account, key.public_key)
            except ValidationError as exc:
                self.message_user(request, error_text(exc), messages.ERROR)
            else:
                self.message_user(
                    request, f"Signing key removed; {reissued} user(s) reissued with the newest key.", messages.SUCCESS
                )
            return redirect(change_url)
        context = {
            **self.admin_site.each_context(request),
            "title": "Remove a signing key",
            "opts": self.opts,
            "account": account,
            "key": key,
            "affected": NatsUser.objects.filter(signing_key=key, active=True).count(),
            "change_url": change_url,
        }
        return TemplateResponse(request, "admin/credentials/account/remove_signing_key.html", context)


# --- Roles -------------------------------------------------------------------------------------------------------


class NatsRoleForm(SubjectListsForm):
    class Meta:
        model = NatsRole
        fields = [
            "organization",
            "name",
            "description",
            *NatsRole.JWT_FIELDS,
        ]


@admin.register(NatsRole)
class NatsRoleAdmin(OrgScopedAdminMixin, admin.ModelAdmin):
    """Roles are created and changed through `create_role` / `update_role`: changing what a role grants
    reissues the JWTs of its active users (their earlier JWTs are revoked when the role now grants less)."""

    form = NatsRoleForm
    view_roles = NATS_READERS
    list_display = ["name", "organization", "publishes", "subscribes", "user_count", "updated"]
    list_filter = ["allow_responses", "organization"]
    list_select_related = ["organization"]
    search_fields = ["name", "description"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(user_count=Count("users"))

    def get_readonly_fields(self, request, obj=None):
        return ["organization"] if obj is not None else []

    @admin.display(description="Publish allow")
    def publishes(self, obj: NatsRole) -> str:
        return ", ".join(obj.publish_allow) or "— nothing —"

    @admin.display(description="Subscribe allow")
    def subscribes(self, obj: NatsRole) -> str:
        return ", ".join(obj.subscribe_allow) or "— nothing —"

    @admin.display(description="Users", ordering="user_count")
    def user_count(self, obj: NatsRole) -> int:
        return obj.user_count

    def save_model(self, request, obj, form, change):
        fields = {name: value for name, value in form.cleaned_data.items() if name != "organization"}
        if change:
            svc.update_role(obj, **fields)
            return
        created = svc.create_role(organization=obj.organization, **fields)
        obj.pk = created.pk
        obj._state.adding = False

    def delete_model(self, request, obj):
        svc.delete_role(obj)

    def delete_queryset(self, request, queryset):
        for role in queryset:
            try:
                svc.delete_role(role)
            except ValidationError as exc:
                self.message_user(request, f"{role}: {error_text(exc)}", messages.ERROR)


# --- Users -------------------------------------------------------------------------------------------------------


class NatsUserForm(SubjectListsForm):
    class Meta:
        model = NatsUser
        fields = [
            "organization",
            "name",
            "description",
            "owner_kind",
            "membership",
            "role",
            *SUBJECT_LISTS,
            "bearer",
            "expires_at",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "owner_kind" in self.fields and not self.request.user.is_superuser:
            self.fields["owner_kind"].choices = [
                choice for choice in self.fields["owner_kind"].choices if choice[0] != NatsUser.OwnerKind.SERVICE
            ]

    def clean(self):
        cleaned = super().clean()
        organization = self.organization()
        if organization is None:
            if self.instance.pk is None and "organization" not in self.errors:
                # The model allows none for the platform's own users, which the platform creates itself.
                self.add_error("organization", "Choose the organization whose NATS account the user joins.")
            return cleaned
        account = Account.objects.filter(organization=organization).first()
        if account is None:
            raise ValidationError("This organization has no NATS account yet; the platform is not bootstrapped.")
        self.instance.account = account  # the model's rules (names, relations, links) are checked against it
        return cleaned


@admin.register(NatsUser)
class NatsUserAdmin(OrgScopedAdminMixin, admin.ModelAdmin):
    form = NatsUserForm
    view_roles = NATS_READERS
    list_display = [
        "name",
        "organization",
        "owner_kind",
        "role",
        "active",
        "issued_at",
        "expires_at",
        "bearer",
        "public_key",
    ]
    list_filter = ["active", "owner_kind", "bearer", "organization"]
    list_select_related = ["organization", "role"]
    search_fields = ["name", "description", "public_key", "membership__user__username"]
    actions = ["download_creds", "regenerate", "revoke", "deactivate", "reactivate"]
    identity_fields = [
        "active",
        "account",
        "public_key",
        "signing_key",
        "issued_at",
        "jwt_expires",
        "created",
        "updated",
    ]
    editable_fields = ("name", "description", "membership", "role", *SUBJECT_LISTS, "bearer", "expires_at")

    def get_fieldsets(self, request, obj=None):
        main = ["organization", "name", "description", "owner_kind", "membership", "role"]
        fieldsets = [
            (None, {"fields": main}),
            ("Permissions (added to the role's)", {"fields": [*SUBJECT_LISTS, "effective_permissions"]}),
            ("JWT", {"fields": ["bearer", "expires_at"]}),
        ]
        if obj is None:
            fieldsets[1][1]["fields"] = list(SUBJECT_LISTS)
            return fieldsets
        return [*fieldsets, ("Identity", {"fields": self.identity_fields})]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return ["organization", "owner_kind", "effective_permissions", *self.identity_fields]

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        form.request = request
        return form

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name in ("role", "membership") and not request.user.is_superuser:
            kwargs["queryset"] = db_field.related_model.objects.for_user(request.user, roles=MANAGERS)
        if db_field.name == "membership":
            kwargs.setdefault("queryset", Membership.objects.all())
            kwargs["queryset"] = kwargs["queryset"].select_related("user", "organization")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def may_manage(self, request, obj: NatsUser) -> bool:
        """Platform service users (and the system account's users) are managed by platform operators."""
        if request.user.is_active and request.user.is_superuser:
            return True
        return obj.owner_kind != NatsUser.OwnerKind.SERVICE and self._allowed(request, MANAGERS, obj)

    def has_change_permission(self, request, obj=None) -> bool:
        if obj is None:
            return super().has_change_permission(request)
        return obj.organization_id is not None and self.may_manage(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        if obj is None:
            return super().has_delete_permission(request)
        return obj.organization_id is not None and self.may_manage(request, obj)

    def has_creds_permission(self, request) -> bool:
        return self.has_change_permission(request)

    @admin.display(description="JWT issued at")
    def issued_at(self, obj: NatsUser):
        return datetime.fromtimestamp(obj.jwt_iat, tz=UTC) if obj.jwt_iat else "—"

    @admin.display(description="JWT expires at")
    def jwt_expires(self, obj: NatsUser):
        if not obj.jwt:
            return "—"
        return datetime.fromtimestamp(obj.jwt_exp, tz=UTC) if obj.jwt_exp else "never"

    @admin.display(description="Effective permissions (what the JWT grants)")
    def effective_permissions(self, obj: NatsUser) -> str:
        perms = svc.effective_permissions(obj)
        rows = [
            *(
                [("From the scope", [f"{perms.scope} (its signing key's template, for this user's name and tags)"])]
                if perms.scope
                else []
            ),
            ("Tags", obj.tags),
            ("Publish allow", perms.pub_allow),
            ("Publish deny", perms.pub_deny),
            ("Subscribe allow", perms.sub_allow),
            ("Subscribe deny", perms.sub_deny),
        ]
        return format_html(
            "<table>{}</table>",
            format_html_join(
                "", "<tr><th>{}</th><td><code>{}</code></td></tr>", ((k, " ".join(v) or "—") for k, v in rows)
            ),
        )

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if change:
            changes = {name: data[name] for name in form.changed_data if name in self.editable_fields}
            if changes:
                svc.update_user(obj, **changes)
            return
        fields = {name: data[name] for name in NatsUserForm.Meta.fields if name not in ("organization", "name")}
        created = svc.create_user(account=obj.account, name=data["name"], **fields)
        obj.pk = created.pk
        obj._state.adding = False

    def _managed(self, request, queryset) -> list[NatsUser]:
        """The selected users the signed-in user may manage (role checked in each user's organization)."""
        return [user for user in queryset.select_related("account", "role") if self.may_manage(request, user)]

    def _each(self, request, queryset, change, verb: str) -> None:
        apply_each(self, request, self._managed(request, queryset), change, "{count} NATS user(s) " + verb + ".")

    @admin.action(description="Download .creds (one user; audited)", permissions=["creds"])
    def download_creds(self, request, queryset):
        users = self._managed(request, queryset)
        if len(users) != 1:
            self.message_user(request, "Select exactly one user you manage to download its .creds.", messages.WARNING)
            return None
        try:
            return creds_response(request, users[0])
        except ValidationError as exc:
            self.message_user(request, f"{users[0]}: {error_text(exc)}", messages.ERROR)
            return None

    @admin.action(description="Regenerate the JWT (same key; old JWT stays valid)", permissions=["change"])
    def regenerate(self, request, queryset):
        self._each(request, queryset, svc.regenerate_user, "regenerated")

    @admin.action(description="Revoke (leaked credentials: new key, old key revoked)", permissions=["change"])
    def revoke(self, request, queryset):
        self._each(request, queryset, svc.revoke_user, "revoked and reissued")

    @admin.action(description="Deactivate (revoke the key, issue nothing)", permissions=["change"])
    def deactivate(self, request, queryset):
        self._each(request, queryset, lambda u: u.active and svc.deactivate_user(u), "deactivated")

    @admin.action(description="Reactivate (new key pair; the old key stays revoked)", permissions=["change"])
    def reactivate(self, request, queryset):
        self._each(request, queryset, lambda u: u.active or svc.reactivate_user(u), "reactivated")


# --- Exports and imports -----------------------------------------------------------------------------------------


class AccountLinkForm(forms.ModelForm):
    """The account is the organization's; set before model validation so its rules apply."""

    def clean(self):
        cleaned = super().clean()
        organization = cleaned.get("organization") or getattr(self.instance, "organization", None)
        if organization is not None:
            account = Account.objects.filter(organization=organization).first()
            if account is None:
                raise ValidationError("This organization has no NATS account yet; the platform is not bootstrapped.")
            self.instance.account = account
        return cleaned


class AccountExportForm(AccountLinkForm):
    class Meta:
        model = AccountExport
        fields = [
            "organization",
            "name",
            "subject",
            "kind",
            "token_required",
            "response_type",
            "response_threshold_ms",
            "account_token_position",
            "advertise",
            "description",
        ]


class AccountImportForm(AccountLinkForm):
    class Meta:
        model = AccountImport
        fields = ["organization", "name", "subject", "local_subject", "exporter", "kind", "share", "token"]


class AccountLinkAdmin(OrgScopedAdminMixin, admin.ModelAdmin):
    """Every change re-signs the owning account (credentials.services.nats.save_account_link)."""

    view_roles = NATS_READERS
    list_select_related = ["organization"]

    def get_readonly_fields(self, request, obj=None):
        return ["organization"] if obj is not None else []

    def save_model(self, request, obj, form, change):
        svc.save_account_link(obj)

    def delete_model(self, request, obj):
        svc.delete_account_link(obj)

    def delete_queryset(self, request, queryset):
        # The admin has checked the delete permission of every selected row (get_deleted_objects).
        for link in queryset:
            svc.delete_account_link(link)


@admin.register(AccountExport)
class AccountExportAdmin(AccountLinkAdmin):
    form = AccountExportForm
    list_display = ["name", "subject", "kind", "organization", "token_required", "advertise"]
    list_filter = ["kind", "organization"]
    search_fields = ["name", "subject", "description"]


@admin.register(AccountImport)
class AccountImportAdmin(AccountLinkAdmin):
    form = AccountImportForm
    list_display = ["name", "subject", "local_subject", "exporter", "kind", "organization"]
    list_filter = ["kind", "organization"]
    list_select_related = ["organization", "exporter"]
    search_fields = ["name", "subject", "local_subject"]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "exporter":
            # The platform's system account or an account of an organization the user manages.
            queryset = Account.objects.all()
            if not request.user.is_superuser:
                queryset = queryset.filter(Q(is_system=True) | Q(organization__in=self.writable_organizations(request)))
            kwargs["queryset"] = queryset
            # Another tenant's account gets the answer of one that does not exist (the model says the same).
            kwargs["error_messages"] = {"invalid_choice": AccountImport.NO_SUCH_EXPORTER}
            return admin.ModelAdmin.formfield_for_foreignkey(self, db_field, request, **kwargs)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)
