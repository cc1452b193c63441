"""The pages an invitation email links to: people with an account sign in and accept; people without one
choose a username and password, and join."""

from __future__ import annotations

from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.password_validation import password_validators_help_text_html
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods

from tenancy import services
from tenancy.models import Invitation, Organization

TEMPLATE = "tenancy/accept_invitation.html"
#: Signs in the account just created: the backend every sign-in goes through (named, since a project may
#: configure more than one).
SIGN_UP_BACKEND = "tenancy.signin.ThrottledModelBackend"


def admin_home_for(organization: Organization) -> str:
    """Where a member lands in the admin for `organization` (after joining it, for instance)."""
    return reverse("admin_org_overview", args=[organization.slug])


def invitation_url(token: str) -> str:
    return reverse("tenancy:accept-invitation") + "?" + urlencode({"token": token})


class SignUpForm(forms.Form):
    username = forms.CharField(max_length=150, help_text="Letters, digits and @/./+/-/_ only.")
    first_name = forms.CharField(max_length=150, required=False)
    last_name = forms.CharField(max_length=150, required=False)
    password1 = forms.CharField(label="Password", strip=False, widget=forms.PasswordInput)
    password2 = forms.CharField(label="Password confirmation", strip=False, widget=forms.PasswordInput)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["password1"].help_text = password_validators_help_text_html()

    #: The service's error keys, as fields of this form.
    FIELDS = {"username": "username", "first_name": "first_name", "last_name": "last_name", "password": "password1"}

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("password1") and cleaned.get("password2") and cleaned["password1"] != cleaned["password2"]:
            self.add_error("password2", "The two passwords differ.")
        return cleaned

    def add_service_errors(self, exc: ValidationError) -> None:
        if not hasattr(exc, "error_dict"):
            self.add_error(None, exc.messages)
            return
        for key, errors in exc.message_dict.items():
            self.add_error(self.FIELDS.get(key), errors)


def _safe_next(request: HttpRequest) -> str:
    """The `next` URL if it stays on this site, else ""."""
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return ""


def _closed(request: HttpRequest, exc: Exception) -> HttpResponse:
    status = 404 if isinstance(exc, services.InvitationNotFound) else 410
    return render(request, TEMPLATE, {"closed": str(exc)}, status=status)


def _joined(request: HttpRequest, invitation: Invitation) -> HttpResponse:
    messages.success(request, f"You joined {invitation.organization.name}.")
    return redirect(_safe_next(request) or admin_home_for(invitation.organization))


@sensitive_post_parameters("password1", "password2", "token")
@never_cache
@csrf_protect
@require_http_methods(["GET", "POST"])
def accept_invitation(request: HttpRequest) -> HttpResponse:
    token = request.POST.get("token") or request.GET.get("token", "")
    try:
        invitation = services.find_invitation(token)
    except (services.InvitationNotFound, services.InvitationGone) as exc:
        return _closed(request, exc)
    context = {"invitation": invitation, "token": token, "next": _safe_next(request)}
    if request.user.is_authenticated:
        return _accept_signed_in(request, invitation, token, context)
    if services.account_exists_for(invitation):
        sign_in = reverse("tenancy:login") + "?" + urlencode({"next": invitation_url(token)})
        return render(request, TEMPLATE, {**context, "sign_in_url": sign_in})
    return _sign_up(request, invitation, token, context)


def _accept_signed_in(request: HttpRequest, invitation: Invitation, token: str, context: dict) -> HttpResponse:
    if request.method == "POST":
        try:
            services.accept_invitation(token=token, user=request.user)
        except (services.InvitationNotFound, services.InvitationGone) as exc:
            return _closed(request, exc)
        except (PermissionDenied, ValidationError) as exc:
            message = exc.messages[0] if isinstance(exc, ValidationError) else str(exc)
            return render(request, TEMPLATE, {**context, "accept": True, "error": message}, status=403)
        return _joined(request, invitation)
    if (request.user.email or "").lower() != invitation.email.lower():
        context["error"] = (
            f"This invitation was sent to {invitation.email}, and you are signed in as {request.user.get_username()}: "
            "sign out and sign in with the account for that address."
        )
    return render(request, TEMPLATE, {**context, "accept": True})


def _sign_up(request: HttpRequest, invitation: Invitation, token: str, context: dict) -> HttpResponse:
    form = SignUpForm(request.POST if request.method == "POST" else None)
    if form.is_valid():
        try:
            membership = services.sign_up_with_invitation(
                token=token,
                username=form.cleaned_data["username"],
                password=form.cleaned_data["password1"],
                first_name=form.cleaned_data["first_name"],
                last_name=form.cleaned_data["last_name"],
            )
        except (services.InvitationNotFound, services.InvitationGone) as exc:
            return _closed(request, exc)
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            login(request, membership.user, backend=SIGN_UP_BACKEND)
            return _joined(request, invitation)
    return render(request, TEMPLATE, {**context, "form": form})
