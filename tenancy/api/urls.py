from django.urls import path
from rest_framework.routers import DefaultRouter

from tenancy.api import views

app_name = "tenancy-api"

router = DefaultRouter()
router.register("orgs", views.OrganizationViewSet, basename="organization")
router.register(r"orgs/(?P<org_slug>[-\w]+)/memberships", views.MembershipViewSet, basename="membership")
router.register(r"orgs/(?P<org_slug>[-\w]+)/invitations", views.InvitationViewSet, basename="invitation")
router.register("tokens", views.ApiTokenViewSet, basename="apitoken")
router.register("users", views.PersonViewSet, basename="user")

urlpatterns = [
    path("me/", views.MeView.as_view(), name="me"),
    path("invitations/accept/", views.AcceptInvitationView.as_view(), name="accept-invitation"),
    *router.urls,
]
