from django.urls import path

from inventory.devices import gateway, gateway_commands, leaf, views

app_name = "devices"

urlpatterns = [
    path("devices/challenge/", views.ChallengeView.as_view(), name="challenge"),
    path("devices/session/", views.SessionView.as_view(), name="session"),
    path("devices/me/", views.MeView.as_view(), name="me"),
    path("devices/config/", views.ConfigView.as_view(), name="config"),
    path("devices/renew/", views.RenewView.as_view(), name="renew"),
    path("enroll/", views.EnrollView.as_view(), name="enroll"),
    path("devices/mqtt-password/", leaf.MqttPasswordView.as_view(), name="mqtt-password"),
    path("leaf/bootstrap/", leaf.LeafBootstrapView.as_view(), name="leaf-bootstrap"),
    path("leaf/report/", leaf.LeafReportView.as_view(), name="leaf-report"),
    path("devices/publish/", gateway.PublishView.as_view(), name="publish"),
    path("devices/twin/<str:property>/", gateway.TwinView.as_view(), name="twin"),
    path("devices/commands/", gateway_commands.commands_long_poll, name="commands"),
    path("devices/commands/<int:command_id>/ack/", gateway_commands.CommandAckView.as_view(), name="command-ack"),
]
