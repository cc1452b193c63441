"""Inventory API routes (`inventory-api`), all under `/api/v1/orgs/<slug>/`."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from inventory.api import bulk, commands, device_tokens, edge, views
from inventory.twin.api import ThingTwinViewSet

app_name = "inventory-api"

ORG = r"orgs/(?P<org_slug>[-\w]+)"

router = SimpleRouter()
router.register(f"{ORG}/message-schemas", views.MessageSchemaViewSet, basename="messageschema")
router.register(f"{ORG}/thing-types", views.ThingTypeViewSet, basename="thingtype")
router.register(
    rf"{ORG}/thing-types/(?P<thing_type_id>[0-9]+)/operations", views.OperationViewSet, basename="operation"
)
router.register(f"{ORG}/location-types", views.LocationTypeViewSet, basename="locationtype")
router.register(f"{ORG}/locations", views.LocationViewSet, basename="location")
router.register(f"{ORG}/floorplans", views.FloorplanViewSet, basename="floorplan")
router.register(f"{ORG}/placements", views.PlacementViewSet, basename="placement")
router.register(f"{ORG}/things", views.ThingViewSet, basename="thing")
router.register(
    rf"{ORG}/things/(?P<thing_id>[0-9]+)/enrollment-tokens",
    views.EnrollmentTokenViewSet,
    basename="enrollmenttoken",
)
router.register(
    rf"{ORG}/things/(?P<thing_id>[0-9]+)/http-tokens", device_tokens.DeviceTokenViewSet, basename="devicetoken"
)
router.register(f"{ORG}/leaf-nodes", edge.LeafNodeViewSet, basename="leafnode")
router.register(rf"{ORG}/things/(?P<thing_id>[0-9]+)/commands", commands.ThingCommandViewSet, basename="thing-command")
router.register(f"{ORG}/commands", commands.CommandViewSet, basename="command")

urlpatterns = [
    path(
        "orgs/<str:org_slug>/things/<int:pk>/twin/",
        ThingTwinViewSet.as_view({"get": "snapshot"}),
        name="thing-twin",
    ),
    path(
        "orgs/<str:org_slug>/things/<int:pk>/twin/desired/<str:property>/",
        ThingTwinViewSet.as_view({"put": "set_desired", "delete": "clear_desired"}),
        name="thing-twin-desired",
    ),
    *router.urls,
    path("orgs/<slug:org_slug>/inventory/import/", bulk.InventoryImportView.as_view(), name="inventory-import"),
    path("orgs/<slug:org_slug>/inventory/export/", bulk.InventoryExportView.as_view(), name="inventory-export"),
]
