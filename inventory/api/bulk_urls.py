from django.urls import path

from inventory.api.bulk import InventoryExportView, InventoryImportView

urlpatterns = [
    path("orgs/<slug:org_slug>/inventory/import/", InventoryImportView.as_view(), name="inventory-import"),
    path("orgs/<slug:org_slug>/inventory/export/", InventoryExportView.as_view(), name="inventory-export"),
]
