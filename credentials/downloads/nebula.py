"""The one way a Nebula config leaves the control plane: an audited download (API and admin). A config holds
the host's private key when the key pair was generated here."""

from __future__ import annotations

from django.http import HttpResponse
from django.utils.cache import patch_cache_control
from django.utils.http import content_disposition_header

from credentials.models import Host
from credentials.services import nebula as svc

CONFIG_CONTENT_TYPE = "application/yaml"


def text_download(content: str, content_type: str, filename: str, *, private: bool) -> HttpResponse:
    """A text attachment; `private` ones are never cached."""
    response = HttpResponse(content, content_type=f"{content_type}; charset=utf-8")
    response["Content-Disposition"] = content_disposition_header(True, filename)
    if private:
        patch_cache_control(response, no_store=True, private=True)
    return response


def config_response(request, host: Host) -> HttpResponse:
    """The host's config, rendered now, as an attachment; the read is audited in the same transaction."""
    content = svc.download_config(host, request=request)
    return text_download(content, CONFIG_CONTENT_TYPE, svc.config_filename(host), private=True)
