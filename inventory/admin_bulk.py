"""The inventory import page of the admin: `/admin/orgs/<slug>/inventory/import/`.

Staff upload a JSON document or a CSV file of one kind; the page checks every row without writing (a dry run)
and shows the bad rows with their lines, or what would be created with a Confirm button. The confirmed file
travels back signed (bound to the organization and the person, for an hour), so nothing is kept between the
two steps. Owners, admins and members use the page; members import locations and things without identities
(the same rules as the API). `/admin/orgs/<slug>/inventory/export/` downloads the JSON export, for every role.
Linked from the inventory's app index, one link per organization.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core import signing
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import reverse

from inventory import bulk
from tenancy.admin_mixins import roles_by_organization
from tenancy.models import Organization
from tenancy.roles import EDITORS, MANAGERS, Role

SALT = "inventory.admin_bulk.import"
#: How long a previewed file may be confirmed, in seconds.
CONFIRM_WITHIN = 3600


class ImportForm(forms.Form):
    file = forms.FileField(help_text="A JSON document (every kind) or a CSV file of one kind.")
    kind = forms.ChoiceField(
        required=False,
        choices=[("", "From the file name")] + [(k, k.replace("_", " ")) for k in bulk.KINDS],
        help_text="What a CSV file holds.",
    )


def _organization_and_role(request: HttpRequest, slug: str) -> tuple[Organization, str]:
    organization = get_object_or_404(Organization, slug=slug)
    if request.user.is_superuser:
        return organization, Role.OWNER
    role = roles_by_organization(request).get(organization.pk)
    if role is None:
        raise Http404("No organization matches the given query.")
    return organization, role


def _allowed(source: bulk.Source, role: str) -> None:
    reasons = source.manager_reasons()
    if reasons and role not in MANAGERS:
        raise bulk.FileError(f"Only an owner or an admin may run this import: {'; '.join(reasons)}.")


def import_view(request: HttpRequest, slug: str) -> HttpResponse:
    organization, role = _organization_and_role(request, slug)
    if role not in EDITORS:
        raise PermissionDenied
    context = {
        **admin.site.each_context(request),
        "title": f"Import inventory into {organization.name}",
        "organization": organization,
        "kinds": bulk.KINDS,
        "columns": bulk.COLUMNS,
        "may_manage": role in MANAGERS,
    }
    form = ImportForm()
    if request.method == "POST" and "confirm" in request.POST:
        try:
            payload = signing.loads(request.POST.get("token", ""), salt=SALT, max_age=CONFIRM_WITHIN)
        except signing.BadSignature:
            messages.error(request, "This preview has expired or was altered; upload the file again.")
            return redirect(request.path)
        if payload.get("o") != organization.pk or payload.get("u") != request.user.pk:
            raise PermissionDenied
        try:
            source = bulk.read(payload["c"], payload["f"], payload["k"])
            _allowed(source, role)
        except bulk.FileError as exc:
            messages.error(request, str(exc))
            return redirect(request.path)
        result = bulk.import_inventory(organization, source, filename=payload["n"])
        if result.ok:
            messages.success(request, f"Imported {result.summary()} into {organization.name}.")
            return redirect(request.path)
        context.update(result=result, filename=payload["n"])
    elif request.method == "POST":
        form = ImportForm(request.POST, request.FILES)
        if form.is_valid():
            upload = form.cleaned_data["file"]
            fmt = bulk.guess_format(upload.name)
            kind = form.cleaned_data["kind"] or bulk.guess_kind(upload.name)
            try:
                if fmt is None:
                    raise bulk.FileError("Upload a .json or a .csv file.")
                if upload.size > 50 * 1024 * 1024:
                    raise bulk.FileError("The file is larger than 50 MiB.")
                try:
                    content = upload.read().decode("utf-8-sig")
                except UnicodeDecodeError:
                    raise bulk.FileError("The file is not UTF-8 text.") from None
                source = bulk.read(content, fmt, kind)
                _allowed(source, role)
            except bulk.FileError as exc:
                form.add_error("file", str(exc))
            else:
                result = bulk.import_inventory(organization, source, dry_run=True, filename=upload.name)
                context.update(result=result, filename=upload.name)
                if result.ok:
                    context["token"] = signing.dumps(
                        {
                            "o": organization.pk,
                            "u": request.user.pk,
                            "f": fmt,
                            "k": kind,
                            "n": upload.name,
                            "c": content,
                        },  # fmt: skip
                        salt=SALT,
                        compress=True,
                    )
    context["form"] = form
    context["export_url"] = reverse("admin_inventory_export", args=[organization.slug])
    return TemplateResponse(request, "admin/inventory/import.html", context)


def export_view(request: HttpRequest, slug: str) -> HttpResponse:
    organization, _role = _organization_and_role(request, slug)
    response = HttpResponse(bulk.export_json(organization), content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="{organization.slug}-inventory.json"'
    return response
