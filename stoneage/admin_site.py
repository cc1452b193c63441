"""The admin site: every active member of an active organization signs in (no staff flag), platform operators
(superusers) too. What each person sees and may change is decided per page by their roles
(tenancy.admin_mixins). A signed-in person with no active membership gets a page that says so, with a
sign-out button, instead of being sent back to the sign-in form."""

from __future__ import annotations

from functools import update_wrapper

from django.contrib import admin
from django.contrib.auth.views import PasswordChangeView
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect

from tenancy.admin_mixins import roles_by_organization
from tenancy.signin import PasswordChangeForm, SignInForm

#: Admin pages open to a signed-in person who may not use the admin (yet).
OPEN_TO_EVERY_PERSON = ("logout", "password_change", "password_change_done")


class StoneAgeAdminSite(admin.AdminSite):
    site_header = "Stone Age control plane"
    site_title = "Stone Age"
    index_title = "Fleet administration"
    login_form = SignInForm

    def has_permission(self, request) -> bool:
        user = request.user
        if not (user.is_active and user.is_authenticated):
            return False
        return user.is_superuser or bool(roles_by_organization(request))

    def admin_view(self, view, cacheable=False):
        checked = super().admin_view(view, cacheable)  # Django's: permission check, CSRF, never cached
        unchecked = csrf_protect(never_cache(view))

        def inner(request, *args, **kwargs):
            if request.user.is_authenticated and not self.has_permission(request):
                open_paths = {reverse(f"admin:{name}", current_app=self.name) for name in OPEN_TO_EVERY_PERSON}
                if request.path in open_paths:
                    return unchecked(request, *args, **kwargs)
                return self.no_organization(request)
            return checked(request, *args, **kwargs)

        return update_wrapper(inner, view)

    def login(self, request, extra_context=None):
        if request.method == "GET" and request.user.is_authenticated and not self.has_permission(request):
            return self.no_organization(request)
        return super().login(request, extra_context)

    def no_organization(self, request) -> TemplateResponse:
        context = {**self.each_context(request), "title": "No active organization"}
        request.current_app = self.name
        response = TemplateResponse(request, "admin/no_organization.html", context, status=403)
        add_never_cache_headers(response)
        return response

    def password_change(self, request, extra_context=None):
        defaults = {
            "form_class": PasswordChangeForm,
            "success_url": reverse("admin:password_change_done", current_app=self.name),
            "extra_context": {**self.each_context(request), **(extra_context or {})},
        }
        request.current_app = self.name
        return PasswordChangeView.as_view(**defaults)(request)
