from django.urls import path

from inventory.devices import leaf, views

app_name = "devices"

urlpatterns = [
    path("devices/challenge/", views.ChallengeView.as_view(), name="challenge"),
    path("devices/session/", views.SessionView.as_view(), name="session"),
    path("devices/me/", views.MeView.as_view(), name="me"),
    path("devices/mqtt-password/", leaf.MqttPasswordView.as_view(), name="mqtt-password"),
    path("leaf/bootstrap/", leaf.LeafBootstrapView.as_view(), name="leaf-bootstrap"),
    path("leaf/report/", leaf.LeafReportView.as_view(), name="leaf-report"),
]
