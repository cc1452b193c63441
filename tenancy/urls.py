from django.urls import path

from tenancy import views

app_name = "tenancy"

urlpatterns = [
    path("invitations/accept/", views.accept_invitation, name="accept-invitation"),
]
