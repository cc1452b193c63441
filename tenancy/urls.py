from django.contrib.auth import views as auth_views
from django.urls import path

from tenancy import views
from tenancy.signin import SignInForm

app_name = "tenancy"

urlpatterns = [
    path("invitations/accept/", views.accept_invitation, name="accept-invitation"),
    # Sign-in outside the admin's look; invitation links lead here first.
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(
            template_name="tenancy/login.html", authentication_form=SignInForm, redirect_authenticated_user=True
        ),
        name="login",
    ),
]
