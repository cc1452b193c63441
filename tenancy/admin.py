from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError

from tenancy import services
from tenancy.admin_mixins import OrgScopedAdminMixin
from tenancy.models import ApiToken, Invitation, Membership, Organization
from tenancy.roles import MANAGERS

User = get_user_model()


def _message(exc: Exception) -> str:
    return "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)


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
    fields = ["email", "role", "invited_by", "expires_at", "accepted_at"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class OrganizationAdminForm(forms.ModelForm):
    owner = forms.ModelChoiceField(
        queryset=User.objects.filter(is_active=True), required=False, help_text="First owner (required)."
    )

    class Meta:
        model = Organization
        fields = ["name", "slug", "description", "active"]

    def clean(self):
        cleaned = super().clean()
        if self.instance._state.adding and not cleaned.get("owner"):
            self.add_error("owner", "Name the organization's first owner.")
        return cleaned


@admin.register(Organization)
class OrganizationAdmin(OrgScopedAdminMixin, admin.ModelAdmin):
    form = OrganizationAdminForm
    add_roles = change_roles = delete_roles = frozenset()  # platform operators only
    list_display = ["name", "slug", "active", "created"]
    list_filter = ["active"]
    search_fields = ["name", "slug", "description"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline, InvitationInline]

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
    class Meta:
        model = Membership
        fields = ["organization", "user", "role"]

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        try:
            if self.instance.pk:
                services.validate_role_change(
                    membership=self.instance, role=cleaned["role"], acting_user=self.request.user
                )
            elif Membership.objects.filter(
                organization=cleaned["organization"], user=cleaned["user"]
            ).exists():
                raise ValidationError(f"{cleaned['user']} is already a member of {cleaned['organization']}.")
            elif (
                cleaned["role"] == "owner"
                and services.role_of(self.request.user, cleaned["organization"]) != "owner"
            ):
                raise PermissionDenied("Only owners may make someone an owner.")
        except (ValidationError, PermissionDenied) as exc:
            raise ValidationError(_message(exc)) from exc
        return cleaned


class UserByEmailField(forms.EmailField):
    """An existing, active user named by email, as in the API: staff add people they know by address, and the
    admin never lists the whole platform's users (other organizations' people, the operators)."""

    def clean(self, value):
        email = super().clean(value)
        user = User.objects.filter(email__iexact=email, is_active=True).first()
        if user is None:
            raise ValidationError("No user has this email; send an invitation instead.")
        return user


class MembershipByEmailAdminForm(MembershipAdminForm):
    user = UserByEmailField(label="Email of the user")


@admin.register(Membership)
class MembershipAdmin(OrgScopedAdminMixin, admin.ModelAdmin):
    form = MembershipAdminForm
    list_display = ["user", "organization", "role", "created"]
    list_filter = ["role", "organization"]
    search_fields = ["user__username", "user__email", "organization__name"]
    list_select_related = ["user", "organization"]
    autocomplete_fields = []

    def get_form(self, request, obj=None, **kwargs):
        if obj is None and not request.user.is_superuser:
            kwargs["form"] = MembershipByEmailAdminForm
        form = super().get_form(request, obj, **kwargs)
        form.request = request
        return form

    def get_readonly_fields(self, request, obj=None):
        return ["organization", "user"] if obj is not None else []

    def has_delete_permission(self, request, obj=None) -> bool:
        if obj is None:
            return super().has_delete_permission(request)
        try:
            services.validate_removal(membership=obj, acting_user=request.user)
        except (ValidationError, PermissionDenied):
            return False
        return True

    def save_model(self, request, obj, form, change):
        if change:
            original = Membership.objects.get(pk=obj.pk)
            services.change_role(membership=original, role=obj.role, acting_user=request.user)
        else:
            created = services.add_member(
                organization=obj.organization, user=obj.user, role=obj.role, acting_user=request.user
            )
            obj.pk = created.pk

    def delete_model(self, request, obj):
        services.remove_member(membership=obj, acting_user=request.user)

    def delete_queryset(self, request, queryset):
        for membership in queryset:
            try:
                services.remove_member(membership=membership, acting_user=request.user)
            except (ValidationError, PermissionDenied) as exc:
                self.message_user(request, f"{membership}: {_message(exc)}", messages.ERROR)


class InvitationAdminForm(forms.ModelForm):
    class Meta:
        model = Invitation
        fields = ["organization", "email", "role"]

    def clean(self):
        # The service's rules, checked here so that a refused invitation is a form error, not a success page.
        cleaned = super().clean()
        if self.errors:
            return cleaned
        try:
            services.validate_invitation(
                organization=cleaned["organization"],
                email=cleaned["email"],
                role=cleaned["role"],
                acting_user=self.request.user,
            )
        except (ValidationError, PermissionDenied) as exc:
            raise ValidationError(_message(exc)) from exc
        return cleaned


@admin.register(Invitation)
class InvitationAdmin(OrgScopedAdminMixin, admin.ModelAdmin):
    form = InvitationAdminForm
    view_roles = MANAGERS
    change_roles = frozenset()
    list_display = ["email", "organization", "role", "invited_by", "expires_at", "accepted_at"]
    list_filter = ["role", "organization"]
    search_fields = ["email", "organization__name"]
    list_select_related = ["organization", "invited_by"]
    actions = ["resend", "revoke"]

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        form.request = request
        return form

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
            self.message_user(request, _message(exc), messages.ERROR)
            return
        obj.pk = created.pk

    def delete_model(self, request, obj):
        services.revoke_invitation(invitation=obj, acting_user=request.user)

    @admin.action(description="Resend selected invitations (new link, new expiry)")
    def resend(self, request, queryset):
        done = 0
        for invitation in queryset.select_related("organization"):
            try:
                services.resend_invitation(invitation=invitation, acting_user=request.user)
                done += 1
            except (ValidationError, PermissionDenied) as exc:
                self.message_user(request, f"{invitation.email}: {_message(exc)}", messages.ERROR)
        if done:
            self.message_user(request, f"Resent {done} invitation(s).", messages.SUCCESS)

    @admin.action(description="Revoke selected invitations")
    def revoke(self, request, queryset):
        done = 0
        for invitation in queryset.select_related("organization"):
            try:
                services.revoke_invitation(invitation=invitation, acting_user=request.user)
                done += 1
            except PermissionDenied as exc:
                self.message_user(request, f"{invitation.email}: {exc}", messages.ERROR)
        if done:
            self.message_user(request, f"Revoked {done} invitation(s).", messages.SUCCESS)


@admin.register(ApiToken)
class ApiTokenAdmin(OrgScopedAdminMixin, admin.ModelAdmin):
    view_roles = MANAGERS
    add_roles = change_roles = delete_roles = frozenset()
    list_display = ["name", "prefix", "user", "organization", "expires_at", "last_used_at", "revoked_at"]
    list_filter = ["organization"]
    search_fields = ["name", "prefix", "user__username", "user__email"]
    list_select_related = ["user", "organization"]
    readonly_fields = ["name", "prefix", "user", "organization", "expires_at", "last_used_at", "revoked_at"]
    actions = ["revoke"]

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        # Managers see their organizations' tokens; everyone sees their own.
        return queryset | ApiToken.objects.filter(user=request.user)

    def has_module_permission(self, request) -> bool:
        return request.user.is_active and request.user.is_staff and bool(request.user.pk)

    def has_add_permission(self, request, *args) -> bool:
        # Not even for superusers: a token is minted by its own user (`POST /api/v1/tokens/`), who sees the
        # secret once; this form has no field to name the user or show the secret.
        return False

    def has_view_permission(self, request, obj=None) -> bool:
        if obj is not None and obj.user_id == request.user.pk:
            return True
        return super().has_view_permission(request, obj) or (obj is None and request.user.is_staff)

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
