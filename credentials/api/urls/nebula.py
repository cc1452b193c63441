from django.urls import path
from rest_framework.routers import SimpleRouter

from credentials.api.views import nebula as views

app_name = "nebula-api"

ORG = r"orgs/(?P<org_slug>[-\w]+)/nebula"

router = SimpleRouter()
router.register(f"{ORG}/networks", views.NetworkViewSet, basename="network")
router.register(f"{ORG}/hosts", views.HostViewSet, basename="host")

# CAs are read-only (no create, update or delete routes), with two extra endpoints.
ca_list = views.CertificateAuthorityViewSet.as_view({"get": "list"})
ca_detail = views.CertificateAuthorityViewSet.as_view({"get": "retrieve"})
ca_crt = views.CertificateAuthorityViewSet.as_view({"get": "ca_crt"})
ca_rotate = views.CertificateAuthorityViewSet.as_view({"post": "rotate"})

urlpatterns = [
    path("orgs/<slug:org_slug>/nebula/cas/", ca_list, name="ca-list"),
    path("orgs/<slug:org_slug>/nebula/cas/<int:pk>/", ca_detail, name="ca-detail"),
    path("orgs/<slug:org_slug>/nebula/cas/<int:pk>/ca.crt", ca_crt, name="ca-crt"),
    path("orgs/<slug:org_slug>/nebula/cas/<int:pk>/rotate/", ca_rotate, name="ca-rotate"),
    *router.urls,
]
