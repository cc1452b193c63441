from django.urls import path
from rest_framework.routers import SimpleRouter

from credentials.api.views import nats as views

app_name = "nats-api"

ORG = r"orgs/(?P<org_slug>[-\w]+)/nats"

router = SimpleRouter()
router.register(f"{ORG}/roles", views.NatsRoleViewSet, basename="natsrole")
router.register(f"{ORG}/users", views.NatsUserViewSet, basename="natsuser")
router.register(f"{ORG}/exports", views.AccountExportViewSet, basename="export")
router.register(f"{ORG}/imports", views.AccountImportViewSet, basename="import")

account = views.AccountViewSet.as_view({"get": "retrieve", "patch": "partial_update"})
add_signing_key = views.AccountViewSet.as_view({"post": "add_signing_key"})
rotate_signing_keys = views.AccountViewSet.as_view({"post": "rotate_signing_keys"})
remove_signing_key = views.AccountViewSet.as_view({"delete": "remove_signing_key"})

urlpatterns = [
    path("orgs/<slug:org_slug>/nats/account/", account, name="account"),
    path("orgs/<slug:org_slug>/nats/account/signing-keys/", add_signing_key, name="account-signing-keys"),
    path(
        "orgs/<slug:org_slug>/nats/account/signing-keys/rotate/",
        rotate_signing_keys,
        name="account-signing-keys-rotate",
    ),
    path(
        "orgs/<slug:org_slug>/nats/account/signing-keys/<str:public_key>/",
        remove_signing_key,
        name="account-signing-key",
    ),
    path("me/nats-creds/rotate/", views.RotateMyNatsCredsView.as_view(), name="my-nats-creds-rotate"),
    *router.urls,
]
