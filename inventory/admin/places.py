"""Location types' places: locations (with a tree view of the organization's locations) and floorplans (with
a plan page where staff drag things onto the image to place or move them).

Floorplan images are never public media: the admin serves them to members of the floorplan's organization
(`image/`), and a drop on the plan is a POST to `place/` that answers JSON."""

from __future__ import annotations

import math
from collections import defaultdict

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.widgets import AutocompleteSelect
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.forms.models import BaseInlineFormSet
from django.http import FileResponse, Http404, JsonResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.cache import patch_cache_control
from django.utils.html import format_html, format_html_join

from inventory.admin.base import InventoryAdmin, InventoryInline
from inventory.models import Floorplan, Location, Placement, Thing
from inventory.services import places as place_svc
from inventory.twin.panel import panel_context
from tenancy.admin_mixins import error_text


class PlaceActionsMixin:
    """Saves and deletes through the domain actions of `inventory.services.places` (`save_<kind>`,
    `delete_<kind>`): the model's rules run once, and a floorplan's replaced or deleted image file goes too."""

    action_name: str

    def save_model(self, request, obj, form, change):
        getattr(place_svc, f"save_{self.action_name}")(obj)

    def delete_model(self, request, obj):
        try:
            getattr(place_svc, f"delete_{self.action_name}")(obj)
        except ValidationError as exc:
            self.message_user(request, f"{obj}: {error_text(exc)}", messages.ERROR)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self.delete_model(request, obj)


#: Things offered beside a plan for dragging, at most (the location's subtree; search the inline for more).
PLAN_THING_LIMIT = 300


# --- Locations ---------------------------------------------------------------------------------------------------


@admin.register(Location)
class LocationAdmin(PlaceActionsMixin, InventoryAdmin):
    action_name = "location"
    list_display = ["code", "name", "location_type", "parent", "organization", "thing_count", "updated"]
    list_filter = ["location_type", "organization"]
    list_select_related = ["location_type", "parent", "organization"]
    search_fields = ["code", "name", "address", "description"]
    autocomplete_fields = ["location_type", "parent"]
    change_list_template = "admin/inventory/location/change_list.html"
    fieldsets = [
        (None, {"fields": ["organization", "code", "name", "description", "location_type", "parent"]}),
        ("Where", {"fields": ["address", "latitude", "longitude"]}),
        ("Metadata", {"fields": ["metadata"]}),
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(thing_count=Count("things"))

    @admin.display(description="Things", ordering="thing_count")
    def thing_count(self, obj) -> int:
        return obj.thing_count

    def change_view(self, request, object_id, form_url="", extra_context=None):
        location = self.get_object(request, object_id)
        if location is not None and self.has_view_permission(request, location):
            extra_context = {**(extra_context or {}), "twin": panel_context(location, "location", can_write=False)}
        return super().change_view(request, object_id, form_url, extra_context)

    def get_urls(self):
        return [
            path("tree/", self.admin_site.admin_view(self.tree_view), name="inventory_location_tree"),
            *super().get_urls(),
        ]

    def tree_view(self, request):
        """Every location of the user's organizations, nested, with thing counts: one query, the tree built
        from the materialized paths."""
        if not self.has_view_permission(request):
            raise Http404
        rows = list(
            self.get_queryset(request)
            .select_related("organization", "location_type")
            .order_by("organization__name", "organization_id", "path")
        )
        context = {
            **self.admin_site.each_context(request),
            "title": "Location tree",
            "opts": self.opts,
            "organizations": location_forest(rows),
            "location_count": len(rows),
            "has_add_permission": self.has_add_permission(request),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/inventory/location/tree.html", context)


def location_forest(rows: list[Location]) -> list[dict]:
    """[{organization, tree (HTML), count}] from locations ordered by organization."""
    by_org: dict[int, list[Location]] = defaultdict(list)
    for location in rows:
        by_org[location.organization_id].append(location)
    return [
        {"organization": locations[0].organization, "tree": location_tree(locations), "count": len(locations)}
        for locations in by_org.values()
    ]


def location_tree(locations: list[Location]) -> str:
    """Nested lists of one organization's locations: each location's parent is the second-to-last id of its
    path; subtree thing counts are summed bottom-up."""
    ids = {location.pk for location in locations}
    children: dict[int | None, list[Location]] = defaultdict(list)
    for location in locations:
        ancestors = location.ancestors()
        children[ancestors[-1] if ancestors and ancestors[-1] in ids else None].append(location)
    for siblings in children.values():
        siblings.sort(key=lambda location: (location.code.lower(), location.pk))
    totals: dict[int, int] = {}
    for location in sorted(locations, key=lambda location: -location.depth):  # the deepest first
        totals[location.pk] = location.thing_count + sum(totals[child.pk] for child in children[location.pk])
    things_url = reverse("admin:inventory_thing_changelist")

    def branch(parent_id: int | None) -> str:
        items = [
            (
                reverse("admin:inventory_location_change", args=[location.pk]),
                location.code,
                location.name if location.name != location.code else "",
                f" · {location.location_type}" if location.location_type_id else "",
                f"{things_url}?location__id__exact={location.pk}",
                location.thing_count,
                totals[location.pk],
                branch(location.pk) if children[location.pk] else "",
            )
            for location in children[parent_id]
        ]
        return format_html(
            "<ul>{}</ul>",
            format_html_join(
                "",
                '<li><a href="{}" class="location-link"><strong>{}</strong> {}</a>'
                '<span class="muted">{}</span> — <a href="{}" class="thing-count">{} thing(s)</a>'
                '<span class="muted"> ({} with sub-locations)</span>{}</li>',
                items,
            ),
        )

    return branch(None)


# --- Floorplans and placements -----------------------------------------------------------------------------------


class KnownThingAutocomplete(AutocompleteSelect):
    """An autocomplete whose selected thing, already loaded with its placement, is rendered without a query of
    its own per row (the plain widget looks each row's selection up again)."""

    known: dict[str, str] | None = None

    def optgroups(self, name, value, attr=None):
        selected = {str(v) for v in value if v not in (None, "")}
        if self.known is None or not selected or not selected <= self.known.keys():
            return super().optgroups(name, value, attr)
        options = [self.create_option(name, pk, self.known[pk], True, index) for index, pk in enumerate(selected)]
        if not self.is_required:
            options.insert(0, self.create_option(name, "", "", False, 0))
        return [(None, options, 0)]


class PlacementFormSet(BaseInlineFormSet):
    def _construct_form(self, i, **kwargs):
        form = super()._construct_form(i, **kwargs)
        form.instance.organization_id = self.instance.organization_id  # checked against the thing's
        form.instance.floorplan = self.instance  # (the formset sets only its id: one query per row to print it)
        field = form.fields.get("thing")
        widget = getattr(field.widget, "widget", field.widget) if field is not None else None
        if isinstance(widget, KnownThingAutocomplete) and form.instance.pk and form.instance.thing_id:
            widget.known = {str(form.instance.thing_id): str(form.instance.thing)}
        return form


class PlacementInline(InventoryInline):
    model = Placement
    formset = PlacementFormSet
    fields = ["thing", "x", "y"]
    autocomplete_fields = ["thing"]
    verbose_name_plural = "placements (pixels from the image's top-left corner)"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("thing")

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "thing":
            kwargs["widget"] = KnownThingAutocomplete(db_field, self.admin_site, using=kwargs.get("using"))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(Floorplan)
class FloorplanAdmin(PlaceActionsMixin, InventoryAdmin):
    action_name = "floorplan"
    list_display = ["name", "location", "organization", "image_format", "width", "height", "placement_count"]
    list_filter = ["image_format", "organization"]
    list_select_related = ["location", "organization"]
    search_fields = ["name", "location__code", "location__name"]
    autocomplete_fields = ["location"]
    fields = ["organization", "location", "name", "image", "image_format", "width", "height"]
    inlines = [PlacementInline]
    change_form_template = "admin/inventory/floorplan/change_form.html"

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(placement_count=Count("placements"))

    def get_inlines(self, request, obj):
        # Placements are checked against the saved image's size: added once the floorplan is saved.
        return self.inlines if obj is not None else []

    def get_readonly_fields(self, request, obj=None):
        return [*super().get_readonly_fields(request, obj), "image_format", "width", "height"]

    @admin.display(description="Placed things", ordering="placement_count")
    def placement_count(self, obj) -> int:
        return obj.placement_count

    def get_urls(self):
        return [
            path(
                "<path:object_id>/image/",
                self.admin_site.admin_view(self.image_view),
                name="inventory_floorplan_image",
            ),
            path(
                "<path:object_id>/place/",
                self.admin_site.admin_view(self.place_view),
                name="inventory_floorplan_place",
            ),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        floorplan = self.get_object(request, object_id)
        if floorplan is not None and self.has_view_permission(request, floorplan):
            extra_context = {**(extra_context or {}), "plan": self.plan_context(request, floorplan)}
        return super().change_view(request, object_id, form_url, extra_context)

    def plan_context(self, request, floorplan: Floorplan) -> dict:
        placed = list(floorplan.placements.select_related("thing").order_by("thing__code"))
        placed_ids = {placement.thing_id for placement in placed}
        location = floorplan.location
        things = list(
            Thing.objects.filter(organization_id=floorplan.organization_id, location__path__startswith=location.path)
            .only("pk", "code", "name")
            .order_by("code")[: PLAN_THING_LIMIT + 1]
        )
        width, height = max(floorplan.width, 1), max(floorplan.height, 1)
        return {
            "floorplan": floorplan,
            "twin_ws_path": f"/ws/orgs/{floorplan.organization.slug}/twin/floorplan/{floorplan.pk}/",
            "online_seconds": settings.TWIN_ONLINE_SECONDS,
            "image_url": reverse("admin:inventory_floorplan_image", args=[floorplan.pk]),
            "place_url": reverse("admin:inventory_floorplan_place", args=[floorplan.pk]),
            "editable": self.has_change_permission(request, floorplan),
            "markers": [
                {
                    "thing_id": placement.thing_id,
                    "code": placement.thing.code,
                    "x": placement.x,
                    "y": placement.y,
                    "left": f"{100 * placement.x / width:.4f}%",
                    "top": f"{100 * placement.y / height:.4f}%",
                }
                for placement in placed
            ],
            "things": [(thing, thing.pk in placed_ids) for thing in things[:PLAN_THING_LIMIT]],
            "more_things": len(things) > PLAN_THING_LIMIT,
            "location": location,
        }

    def image_view(self, request, object_id):
        floorplan = self.get_object(request, object_id)
        if floorplan is None or not self.has_view_permission(request, floorplan) or not floorplan.image:
            raise Http404("No such floorplan.")
        try:
            handle = floorplan.image.open("rb")
        except (FileNotFoundError, ValueError):
            raise Http404("The floorplan's image is missing.") from None
        content_type = f"image/{floorplan.image_format}" if floorplan.image_format else "application/octet-stream"
        response = FileResponse(handle, content_type=content_type)
        response["X-Content-Type-Options"] = "nosniff"
        response["Content-Security-Policy"] = "default-src 'none'; sandbox"
        patch_cache_control(response, private=True, max_age=300)
        return response

    def place_view(self, request, object_id):
        """POST thing=<id>&x=<pixels>&y=<pixels>: place the thing on the plan or move it; JSON either way."""
        if request.method != "POST":
            return JsonResponse({"error": "POST a thing and its x and y in the image's pixels."}, status=405)
        floorplan = self.get_object(request, object_id)
        if floorplan is None:
            return JsonResponse({"error": "No such floorplan."}, status=404)
        if not self.has_change_permission(request, floorplan):
            return JsonResponse({"error": "You may not place things on this floorplan."}, status=403)
        errors = {}
        try:
            thing_id = int(request.POST.get("thing", ""))
        except ValueError:
            thing_id = None
        thing = (
            Thing.objects.filter(organization_id=floorplan.organization_id, pk=thing_id).first()
            if thing_id is not None
            else None
        )
        if thing is None:
            errors["thing"] = ["Choose a thing of this floorplan's organization."]
        coordinates = {}
        for name in ("x", "y"):
            try:
                value = float(request.POST.get(name, ""))
            except ValueError:
                value = math.nan
            if not math.isfinite(value):
                errors[name] = ["Enter a number of pixels."]
            coordinates[name] = value
        if errors:
            return JsonResponse({"errors": errors}, status=400)
        try:
            placement, created = place_svc.place_thing(floorplan, thing, coordinates["x"], coordinates["y"])
        except ValidationError as exc:
            return JsonResponse({"errors": exc.message_dict}, status=400)
        return JsonResponse(
            {"id": placement.pk, "thing": thing.pk, "code": thing.code, "x": placement.x, "y": placement.y},
            status=201 if created else 200,
        )
