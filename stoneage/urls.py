from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from stoneage import admin_overview, health

admin.site.site_header = "Stone Age control plane"
admin.site.site_title = "Stone Age"
admin.site.index_title = "Fleet administration"

api_v1 = [
    path("", include("tenancy.api.urls")),
    path("", include("audit.api.urls")),
    path("", include("credentials.api.urls.nats")),
    path("", include("credentials.api.urls.nebula")),
]

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path(
        "admin/orgs/<slug:slug>/",
        admin.site.admin_view(admin_overview.organization_overview),
        name="admin_org_overview",
    ),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("", include("tenancy.urls")),
]
