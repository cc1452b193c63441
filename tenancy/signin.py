"""Signing in: sign-in throttling, and the forms and views of the sign-in and password pages.

Throttling counts failed sign-ins in Django's cache (Redis in production), per username and per client
address. `LOGIN_FAILURE_LIMIT` failures of one username, or `LOGIN_FAILURE_IP_LIMIT` from one address, within
`LOGIN_FAILURE_WINDOW` seconds refuse further attempts, right password or not, for `LOGIN_LOCKOUT` seconds.
The check lives in the authentication backend, so every sign-in page (the admin's and /accounts/login/) and
any other caller of `authenticate()` goes through it. When the cache cannot be reached, sign-in goes on
unthrottled (logged at WARNING; failed logins are still audited) rather than failing for everyone.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Callable
from typing import TypeVar

from django.conf import settings
from django.contrib.auth import forms as auth_forms
from django.contrib.auth import get_user_model
from django.contrib.auth import views as auth_views
from django.contrib.auth.backends import ModelBackend
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError

from audit.context import client_ip
from tenancy import signals

logger = logging.getLogger(__name__)
T = TypeVar("T")

# --- Throttling -------------------------------------------------------------------------------------------------


def _with_cache(operation: Callable[[], T], fallback: T) -> T:
    try:
        return operation()
    except Exception:  # any cache backend's connection error
        logger.warning("Sign-in throttling is off: the cache cannot be reached.", exc_info=True)
        return fallback


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:32]


def _scopes(request, username: str | None) -> list[tuple[str, int]]:
    """(cache key stem, failure limit) of each counter an attempt counts against."""
    scopes = []
    if username:
        scopes.append((f"signin:user:{_digest(username.strip().casefold())}", settings.LOGIN_FAILURE_LIMIT))
    address = client_ip(request) if request is not None else None
    if address:
        scopes.append((f"signin:ip:{_digest(address)}", settings.LOGIN_FAILURE_IP_LIMIT))
    return scopes


def retry_after(request, username: str | None) -> int:
    """Seconds until `username` may try again from this request's address; 0 when not throttled."""
    keys = [f"{stem}:blocked" for stem, _ in _scopes(request, username)]
    until = _with_cache(lambda: cache.get_many(keys), {}).values()
    now = time.time()
    return max(0, math.ceil(max((value - now for value in until if value), default=0)))


def record_failure(request, username: str | None) -> None:
    _with_cache(lambda: _count_failure(request, username), None)


def _count_failure(request, username: str | None) -> None:
    for stem, limit in _scopes(request, username):
        count_key = f"{stem}:failures"
        cache.add(count_key, 0, timeout=settings.LOGIN_FAILURE_WINDOW)
        try:
            failures = cache.incr(count_key)
        except ValueError:  # expired between add and incr
            cache.set(count_key, 1, timeout=settings.LOGIN_FAILURE_WINDOW)
            failures = 1
        if failures >= limit:
            cache.set(f"{stem}:blocked", time.time() + settings.LOGIN_LOCKOUT, timeout=settings.LOGIN_LOCKOUT)
            cache.delete(count_key)


def record_success(request, username: str | None) -> None:
    """A right password clears the username's count (not the address's: one known account must not let an
    address guess at others without limit)."""
    if username:
        _with_cache(lambda: cache.delete(f"signin:user:{_digest(username.strip().casefold())}:failures"), None)


class LoginThrottled(PermissionDenied):
    pass


class ThrottledModelBackend(ModelBackend):
    """Django's username/password backend behind the sign-in throttle. Inactive people are refused as usual."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None:
            username = kwargs.get(get_user_model().USERNAME_FIELD)
        wait = retry_after(request, username)
        if wait:
            # Django's authenticate() turns this into a failed login (`user_login_failed`, audited).
            raise LoginThrottled(f"Too many failed sign-ins; retry in {wait} s.")
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None:
            record_failure(request, username)
        else:
            record_success(request, username)
        return user


def throttled_message(seconds: int) -> str:
    minutes = max(1, math.ceil(seconds / 60))
    unit = "minute" if minutes == 1 else "minutes"
    return f"Too many failed sign-in attempts. Sign-in is paused; try again in {minutes} {unit}."


class SignInForm(auth_forms.AuthenticationForm):
    """The sign-in form of every page: any active person (whether they may use the admin is decided after,
    with a clear page for those who may not), and a clear message while sign-in is throttled."""

    def clean(self):
        try:
            return super().clean()
        except ValidationError:
            wait = retry_after(self.request, self.cleaned_data.get("username"))
            if wait:
                raise ValidationError(throttled_message(wait), code="throttled") from None
            raise


# --- Password reset and change ----------------------------------------------------------------------------------


class PasswordResetForm(auth_forms.PasswordResetForm):
    """Django's reset form; the request is audited whether or not the address belongs to an account, and the
    page answers the same either way."""

    def save(self, *args, request=None, **kwargs) -> None:
        email = self.cleaned_data["email"]
        users = list(self.get_users(email))
        super().save(*args, request=request, **kwargs)
        signals.password_reset_requested.send(sender=type(self), request=request, email=email, users=users)


class SetPasswordForm(auth_forms.SetPasswordForm):
    """The new password of a reset link (Django's validators apply)."""

    def save(self, commit: bool = True):
        user = super().save(commit)
        if commit:
            signals.password_changed.send(sender=type(self), user=user, reset=True)
        return user


class PasswordChangeForm(auth_forms.PasswordChangeForm):
    """The signed-in person's password change (old password, then a new one that passes the validators)."""

    required_css_class = "required"

    def save(self, commit: bool = True):
        user = super().save(commit)
        if commit:
            signals.password_changed.send(sender=type(self), user=user, reset=False)
        return user


class PasswordResetView(auth_views.PasswordResetView):
    """Django's reset page; the emailed link starts with SITE_URL, whatever host the request came through."""

    form_class = PasswordResetForm
    email_template_name = "registration/stoneage_password_reset_email.txt"
    subject_template_name = "registration/stoneage_password_reset_subject.txt"

    def form_valid(self, form):
        self.extra_email_context = {
            "site_url": settings.SITE_URL,
            "valid_hours": max(1, settings.PASSWORD_RESET_TIMEOUT // 3600),
        }
        return super().form_valid(form)
