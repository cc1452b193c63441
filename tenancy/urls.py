from django.contrib.auth import views as auth_views
from django.urls import path

from tenancy import views

app_name = "tenancy"

urlpatterns = [
    path("invitations/accept/", views.accept_invitation, name="accept-invitation"),
    # Sign-in for everyone (the admin's sign-in admits staff only); invitation links lead here first.
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(template_name="tenancy/login.html", redirect_authenticated_user=True),
        name="login",
    ),
]
