from django import forms
from django.contrib import admin, messages
from django.contrib.auth import admin as auth_admin
from django.contrib.auth import forms as auth_forms
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from tenancy import services
from tenancy.admin_mixins import (
    ListFilterLookupsOnlyMixin,
    OrgScopedAdminMixin,
    apply_each,
    error_text,
    roles_by_organization,
)
from tenancy.models import ApiToken, Invitation, Membership, Organization
from tenancy.roles import MANAGERS

User = get_user_model()


def _may_invite(request, organization: Organization) -> bool:
    return request.user.is_superuser or roles_by_organization(request).get(organization.pk) in MANAGERS


class MembershipInline(admin.TabularInline):
    model = Membership
    fk_name = "organization"
    extra = 0
    fields = ["user", "role", "invited_by", "created"]
    readonly_fields = ["user", "role", "invited_by", "created"]
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class InvitationInline(admin.TabularInline):
    model = Invitation
    extra = 0
    fields = ["email", "role", "invited_by", "expires_at", "status"]
    readonly_fields = fields
    can_delete = False

    def get_queryset(self, request):
        return super().get_queryset(request).open()

    def has_view_permission(self, request, obj=None) -> bool:
        # Open invitations are for the organization's managers, like the invitations admin. `obj` is the
        # organization, or None when Django builds the rows (already those of the organization shown).
        if obj is None:
            return request.user.is_superuser or any(r in MANAGERS for r in roles_by_organization(request).values())
        return _may_invite(request, obj)

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class OrganizationAdminForm(forms.ModelForm):
    class Meta:
        model = Organization
        fields = ["name", "slug", "description", "active"]


class NewOrganizationAdminForm(OrganizationAdminForm):
    owner = forms.ModelChoiceField(queryset=User.objects.filter(is_active=True), help_text="First owner.")


@admin.register(Organization)
class OrganizationAdmin(OrgScopedAdminMixin, admin.ModelAdmin):
    form = OrganizationAdminForm
    add_roles = change_roles = delete_roles = frozenset()  # platform operators only
    list_display = ["name", "slug", "active", "member_count", "overview", "created"]
    list_filter = ["active"]
    search_fields = ["name", "slug", "description"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline, InvitationInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(member_count=Count("memberships"))

    @admin.display(description="Members", ordering="member_count")
    def member_count(self, obj: Organization) -> int:
        return obj.member_count

    @admin.display(description="Overview")
    def overview(self, obj: Organization) -> str:
        return format_html('<a href="{}">Overview</a>', reverse("admin_org_overview", args=[obj.slug]))

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = NewOrganizationAdminForm
        return super().get_form(request, obj, **kwargs)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = extra_context or {}
        organization = self.get_object(request, object_id)
        if organization is not None and _may_invite(request, organization):
            extra_context["invite_url"] = reverse("admin:tenancy_invitation_add") + f"?organization={organization.pk}"
        return super().change_view(request, object_id, form_url, extra_context)

    def get_fields(self, request, obj=None):
        fields = ["name", "slug", "description", "active"]
        return [*fields, "owner"] if obj is None else fields

    def get_readonly_fields(self, request, obj=None):
        return ["slug"] if obj is not None else []

    def get_prepopulated_fields(self, request, obj=None):
        return self.prepopulated_fields if obj is None else {}

    def save_model(self, request, obj, form, change):
        if change:
            changes = {
                name: form.cleaned_data[name] for name in form.changed_data if name in services.ORGANIZATION_FIELDS
            }
            services.update_organization(obj, acting_user=request.user, **changes)
            return
        created = services.create_organization(
            name=obj.name,
            slug=obj.slug,
            description=obj.description,
            owner=form.cleaned_data["owner"],
            acting_user=request.user,
        )
        obj.pk = created.pk
        obj._state.adding = False
        obj.created, obj.updated = created.created, created.updated
        if not obj.active:
            services.update_organization(created, acting_user=request.user, active=False)

    def get_deleted_objects(self, objs, request):
        # Everything the organization owns goes with it (its NATS users in bulk, its NATS account deleted from the
        # servers); the admins of those rows refuse deleting them one by one, which must not block this.
        deleted, counts, _, protected = super().get_deleted_objects(objs, request)
        return deleted, counts, set(), protected

    def delete_model(self, request, obj):
        services.delete_organization(obj, acting_user=request.user)

    def delete_queryset(self, request, queryset):
        for organization in queryset:
            services.delete_organization(organization, acting_user=request.user)


class MembershipAdminForm(forms.ModelForm):
    """A member's role; the service's rules (owners, the last owner) are form errors."""

    class Meta:
        model = Membership
        fields = ["role"]

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        try:
            services.validate_role_change(membership=self.instance, role=cleaned["role"], acting_user=self.request.user)
        except (ValidationError, PermissionDenied) as exc:
            raise ValidationError(error_text(exc)) from exc
        return cleaned


@admin.register(Membership)
class MembershipAdmin(OrgScopedAdminMixin, admin.ModelAdmin):
    form = MembershipAdminForm
    list_display = ["user", "organization", "role", "user_status", "last_login", "created"]
    list_filter = ["role", "organization"]
    search_fields = ["user__username", "user__email", "organization__name"]
    list_select_related = ["user", "organization"]
    fields = ["organization", "user", "role"]
    readonly_fields = ["organization", "user"]

    @admin.display(description="Status", ordering="user__is_active")
    def user_status(self, obj: Membership) -> str:
        return "active" if obj.user.is_active else "deactivated"

    @admin.display(description="Last login", ordering="user__last_login")
    def last_login(self, obj: Membership):
        return obj.user.last_login

    def add_view(self, request, form_url="", extra_context=None):
        # Nobody becomes a member without consent: adding someone is inviting them, whether or not the address
        # belongs to an account, and they join when they accept.
        if not self.has_add_permission(request):
            raise PermissionDenied
        query = request.GET.urlencode()
        return redirect(reverse("admin:tenancy_invitation_add") + (f"?{query}" if query else ""))

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        form.request = request
        return form

    def has_delete_permission(self, request, obj=None) -> bool:
        if obj is None:
            return super().has_delete_permission(request)
        try:
            services.validate_removal(membership=obj, acting_user=request.user)
        except (ValidationError, PermissionDenied):
            return False
        return True

    def save_model(self, request, obj, form, change):
        original = Membership.objects.get(pk=obj.pk)
        services.change_role(membership=original, role=obj.role, acting_user=request.user)

    def delete_model(self, request, obj):
        services.remove_member(membership=obj, acting_user=request.user)

    def delete_queryset(self, request, queryset):
        for membership in queryset:
            try:
                services.remove_member(membership=membership, acting_user=request.user)
            except (ValidationError, PermissionDenied) as exc:
                self.message_user(request, f"{membership}: {error_text(exc)}", messages.ERROR)


class InvitationAdminForm(forms.ModelForm):
    """The model's rules (a member's address, an open invitation) are form errors of this form."""

    class Meta:
        model = Invitation
        fields = ["organization", "email", "role"]
        help_texts = {
            "email": "The person joins when they accept, whether or not this address has an account yet.",
        }


class InvitationStatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [(s, s.title()) for s in ("pending", "expired", "accepted", "revoked")]

    def queryset(self, request, queryset):
        now = timezone.now()
        return {
            "pending": lambda: queryset.pending(),
            "expired": lambda: queryset.open().filter(expires_at__lte=now),
            "accepted": lambda: queryset.filter(accepted_at__isnull=False),
            "revoked": lambda: queryset.filter(revoked_at__isnull=False),
        }.get(self.value(), lambda: queryset)()


@admin.register(Invitation)
class InvitationAdmin(OrgScopedAdminMixin, admin.ModelAdmin):
    """Invite from here; Resend and Revoke are the actions (revoked invitations stay listed)."""

    form = InvitationAdminForm
    view_roles = MANAGERS
    change_roles = delete_roles = frozenset()
    list_display = ["email", "organization", "role", "status", "invited_by", "expires_at", "accepted_at"]
    list_filter = [InvitationStatusFilter, "role", "organization"]
    search_fields = ["email", "organization__name"]
    list_select_related = ["organization", "invited_by"]
    readonly_fields = ["status", "invited_by", "expires_at", "accepted_at", "accepted_by", "revoked_at"]
    actions = ["resend", "revoke"]

    def get_fields(self, request, obj=None):
        fields = ["organization", "email", "role"]
        return fields if obj is None else [*fields, *self.readonly_fields]

    @admin.display(description="Status")
    def status(self, obj: Invitation) -> str:
        return obj.status

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def save_model(self, request, obj, form, change):
        try:
            created, _ = services.invite(
                organization=obj.organization, email=obj.email, role=obj.role, acting_user=request.user
            )
        except (ValidationError, PermissionDenied) as exc:
            self.message_user(request, error_text(exc), messages.ERROR)
            return
        obj.pk = created.pk

    @admin.action(description="Resend selected invitations (new link, new expiry)")
    def resend(self, request, queryset):
        apply_each(
            self,
            request,
            queryset.select_related("organization"),
            lambda invitation: services.resend_invitation(invitation=invitation, acting_user=request.user),
            "Resent {count} invitation(s).",
            errors=(ValidationError, PermissionDenied),
            label=lambda invitation: invitation.email,
        )

    @admin.action(description="Revoke selected invitations")
    def revoke(self, request, queryset):
        apply_each(
            self,
            request,
            queryset.select_related("organization"),
            lambda invitation: services.revoke_invitation(invitation=invitation, acting_user=request.user),
            "Revoked {count} invitation(s).",
            errors=(ValidationError, PermissionDenied),
            label=lambda invitation: invitation.email,
        )


@admin.register(ApiToken)
class ApiTokenAdmin(OrgScopedAdminMixin, admin.ModelAdmin):
    view_roles = MANAGERS
    add_roles = change_roles = delete_roles = frozenset()
    list_display = [
        "name",
        "prefix",
        "user",
        "organization",
        "platform",
        "status",
        "last_used_at",
        "expires_at",
        "revoked_at",
    ]
    list_filter = ["platform", "organization"]
    search_fields = ["name", "prefix", "user__username", "user__email"]
    list_select_related = ["user", "organization"]
    readonly_fields = [
        "name",
        "prefix",
        "user",
        "organization",
        "platform",
        "expires_at",
        "last_used_at",
        "revoked_at",
    ]
    actions = ["revoke"]

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        # Managers see their organizations' tokens; everyone sees their own.
        return queryset | ApiToken.objects.filter(user=request.user)

    @admin.display(description="Status")
    def status(self, obj: ApiToken) -> str:
        if obj.revoked_at is not None:
            return "revoked"
        return "active" if obj.is_usable else "expired"

    def has_module_permission(self, request) -> bool:
        return self.admin_site.has_permission(request)

    def has_add_permission(self, request, *args) -> bool:
        # Not even for superusers: a token is minted by its own user (`POST /api/v1/tokens/`), who sees the
        # secret once; this form has no field to name the user or show the secret.
        return False

    def has_view_permission(self, request, obj=None) -> bool:
        if obj is not None and obj.user_id == request.user.pk:
            return True
        return super().has_view_permission(request, obj) or (obj is None and self.admin_site.has_permission(request))

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    @admin.action(description="Revoke selected tokens")
    def revoke(self, request, queryset):
        allowed = set(self.get_queryset(request).values_list("pk", flat=True))
        count = 0
        for token in queryset.filter(pk__in=allowed):
            services.revoke_api_token(token=token)
            count += 1
        self.message_user(request, f"Revoked {count} token(s).", messages.SUCCESS)


# Django's own user and group admins (platform operators), under the same changelist lookup rule.
admin.site.unregister(User)
admin.site.unregister(Group)


class PersonEmailMixin:
    """Every person has an email address, unique regardless of case."""

    def clean_email(self):
        email = services.normalize_person_email(self.cleaned_data.get("email", ""))
        if not email:
            raise ValidationError("An email address is required.")
        try:
            services.check_email_free(email, person=self.instance)
        except ValidationError as exc:
            raise ValidationError(error_text(exc)) from exc
        return email


class PersonCreationForm(PersonEmailMixin, auth_forms.AdminUserCreationForm):
    class Meta(auth_forms.AdminUserCreationForm.Meta):
        fields = ["username", "email", "first_name", "last_name"]


class PersonChangeForm(PersonEmailMixin, auth_forms.UserChangeForm):
    pass


@admin.register(User)
class UserAdmin(ListFilterLookupsOnlyMixin, auth_admin.UserAdmin):
    """People, for platform operators: created with an email address, deactivated rather than deleted (which
    also revokes their API tokens and NATS users)."""

    form = PersonChangeForm
    add_form = PersonCreationForm
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": (
                    "username",
                    "email",
                    "first_name",
                    "last_name",
                    "usable_password",
                    "password1",
                    "password2",
                ),
            },
        ),
    )
    list_display = ["username", "email", "first_name", "last_name", "is_active", "is_superuser", "last_login"]
    list_filter = ["is_active", "is_superuser", "is_staff"]
    actions = ["deactivate", "reactivate"]

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def save_model(self, request, obj, form, change):
        if not change:
            password = form.cleaned_data.get("password1") if form.cleaned_data.get("set_usable_password") else None
            person = services.create_person(
                username=obj.username,
                email=obj.email,
                first_name=obj.first_name,
                last_name=obj.last_name,
                password=password or None,
                acting_user=request.user,
            )
            obj.pk, obj.password, obj._state.adding = person.pk, person.password, False
            return
        active = obj.is_active
        if "is_active" in form.changed_data:
            obj.is_active = not active  # the domain action makes the switch
        super().save_model(request, obj, form, change)
        try:
            services.update_person(person=obj, acting_user=request.user, is_active=active)
        except (ValidationError, PermissionDenied) as exc:
            self.message_user(request, error_text(exc), messages.ERROR)

    @admin.action(description="Deactivate selected people (revokes their API tokens and NATS users)")
    def deactivate(self, request, queryset):
        apply_each(
            self,
            request,
            queryset.filter(is_active=True),
            lambda person: services.deactivate_person(person=person, acting_user=request.user),
            "Deactivated {count} person(s).",
            errors=(ValidationError, PermissionDenied),
        )

    @admin.action(description="Reactivate selected people")
    def reactivate(self, request, queryset):
        apply_each(
            self,
            request,
            queryset.filter(is_active=False),
            lambda person: services.reactivate_person(person=person, acting_user=request.user),
            "Reactivated {count} person(s).",
            errors=(),
        )


@admin.register(Group)
class GroupAdmin(ListFilterLookupsOnlyMixin, auth_admin.GroupAdmin):
    pass
