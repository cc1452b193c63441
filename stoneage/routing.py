"""Websocket routes; apps append their consumers here."""

from django.urls import path

from inventory.twin.consumers import TwinConsumer

websocket_urlpatterns: list = [
    path("ws/orgs/<slug:org_slug>/twin/floorplan/<int:floorplan>/", TwinConsumer.as_asgi()),
    path("ws/orgs/<slug:org_slug>/twin/<str:kind>/<str:code>/", TwinConsumer.as_asgi()),
]
