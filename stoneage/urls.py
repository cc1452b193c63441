from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from inventory import admin_bulk
from stoneage import admin_overview, health, metrics
from tenancy.signin import PasswordResetView, SetPasswordForm

api_v1 = [
    path("", include("tenancy.api.urls")),
    path("", include("audit.api.urls")),
    path("", include("credentials.api.urls.nats")),
    path("", include("credentials.api.urls.nebula")),
    path("", include("inventory.api.urls")),
    path("", include("inventory.devices.urls")),
    path("", include("stoneage.backup_api")),
]

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics.metrics_view, name="metrics"),
    # Password reset by email (Django's views, the admin's look); the admin's sign-in page links to it.
    path(
        "admin/password_reset/",
        PasswordResetView.as_view(),
        name="admin_password_reset",
    ),
    path("admin/password_reset/done/", auth_views.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path(
        "reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(form_class=SetPasswordForm),
        name="password_reset_confirm",
    ),
    path("reset/done/", auth_views.PasswordResetCompleteView.as_view(), name="password_reset_complete"),
    path(
        "admin/orgs/<slug:slug>/",
        admin.site.admin_view(admin_overview.organization_overview),
        name="admin_org_overview",
    ),
    path(
        "admin/orgs/<slug:slug>/inventory/import/",
        admin.site.admin_view(admin_bulk.import_view),
        name="admin_inventory_import",
    ),
    path(
        "admin/orgs/<slug:slug>/inventory/export/",
        admin.site.admin_view(admin_bulk.export_view),
        name="admin_inventory_export",
    ),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("", include("tenancy.urls")),
]
