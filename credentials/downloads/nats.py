"""The one way a NATS seed leaves the control plane: an audited `.creds` download (API and admin)."""

from __future__ import annotations

from django.db import transaction
from django.http import HttpResponse
from django.utils.cache import patch_cache_control
from django.utils.http import content_disposition_header
from django.views.decorators.debug import sensitive_variables

from audit.services import record_credential_read
from credentials.models import NatsUser
from credentials.services import nats as svc

CREDS_CONTENT_TYPE = "text/plain; charset=utf-8"


def creds_filename(user: NatsUser) -> str:
    return f"{user.name}.creds"


@sensitive_variables("creds")
def creds_response(request, user: NatsUser) -> HttpResponse:
    """The user's `.creds` file as an attachment. The read is recorded in the audit log in the same
    transaction, so a download that cannot be audited does not happen."""
    with transaction.atomic():
        creds = svc.user_creds(user)
        record_credential_read(obj=user, kind="nats.creds", request=request)
    response = HttpResponse(creds, content_type=CREDS_CONTENT_TYPE)
    response["Content-Disposition"] = content_disposition_header(True, creds_filename(user))
    patch_cache_control(response, no_store=True, private=True)
    return response
