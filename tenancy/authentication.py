import hmac
import re
from datetime import timedelta
from functools import cache

from django.db.models import OuterRef, Subquery
from django.utils import timezone
from rest_framework import authentication, exceptions

from tenancy.models import TOKEN_PREFIX, ApiToken, Membership, hash_secret
from tenancy.signals import api_token_rejected

LAST_USED_RESOLUTION = timedelta(minutes=1)
#: `ApiToken.prefix`: hex (`set_new_secret`), at most the column's 16 characters.
_PREFIX = re.compile(r"[0-9a-f]{1,16}")


def token_with_role(prefix: str) -> ApiToken | None:
    """The token with `prefix`, its user and organization, and in `member_role` the user's role in that
    organization (None when not a member, and for a platform token): one query for the request's whole
    identity, which `tenancy.api.base.resolve_organization` reuses."""
    return _tokens_with_role().filter(prefix=prefix).first()


@cache
def _tokens_with_role():
    # Built once (never evaluated itself): each request only adds its prefix.
    role = Membership.objects.filter(user=OuterRef("user_id"), organization=OuterRef("organization_id"))
    return (
        ApiToken.objects.select_related("user", "organization")
        .annotate(member_role=Subquery(role.order_by().values("role")[:1]))
        .order_by("pk")
    )


class ApiTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer sat_<prefix>_<secret>`. The request acts as the token's user: limited to the
    token's organization and the user's role there, or, for a platform token, as a platform operator."""

    keyword = "Bearer"

    def authenticate_header(self, request) -> str:
        return self.keyword

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        parts = header.split()
        if parts[0].lower() != self.keyword.lower():
            return None
        if len(parts) != 2:
            return self._reject(request, "", "Malformed Authorization header; expected 'Bearer <token>'.")
        raw = parts[1]
        pieces = raw.split("_", 2)
        if len(pieces) != 3 or pieces[0] != TOKEN_PREFIX or not _PREFIX.fullmatch(pieces[1]):
            return self._reject(request, "", "Malformed API token.")
        prefix = pieces[1]
        token = token_with_role(prefix)
        if token is None or not hmac.compare_digest(token.secret_hash, hash_secret(raw)):
            return self._reject(request, prefix, "Invalid API token.")
        if token.revoked_at is not None:
            return self._reject(request, prefix, "This API token has been revoked.")
        if token.expires_at is not None and token.expires_at <= timezone.now():
            return self._reject(request, prefix, "This API token has expired.")
        if token.platform:
            if not token.user.is_active:
                return self._reject(request, prefix, "This platform token's user is inactive.")
            if not token.user.is_superuser:
                return self._reject(request, prefix, "This platform token's user is no longer a platform operator.")
        else:
            if not token.user.is_active or not token.organization.active:
                return self._reject(request, prefix, "This API token's user or organization is inactive.")
            if token.member_role is None:
                return self._reject(request, prefix, "This API token's user is no longer a member.")
        now = timezone.now()
        if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
            token.last_used_at = now
        return token.user, token

    def _reject(self, request, prefix: str, reason: str):
        api_token_rejected.send(sender=self.__class__, request=request, prefix=prefix, reason=reason)
        raise exceptions.AuthenticationFailed(reason)
