from rest_framework.routers import SimpleRouter

from audit.api import views

app_name = "audit-api"

router = SimpleRouter()
router.register(r"orgs/(?P<org_slug>[-\w]+)/audit/events", views.AuditEventViewSet, basename="event")

urlpatterns = router.urls
