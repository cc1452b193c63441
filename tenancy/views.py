from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from tenancy import services


@login_required(login_url="tenancy:login")
@require_http_methods(["GET", "POST"])
def accept_invitation(request):
    """The page an invitation email links to: the signed-in user confirms and joins."""
    token = request.POST.get("token") or request.GET.get("token", "")
    try:
        invitation = services.find_invitation(token)
    except services.InvitationNotFound as exc:
        return render(request, "tenancy/accept_invitation.html", {"error": str(exc)}, status=404)
    except services.InvitationGone as exc:
        return render(request, "tenancy/accept_invitation.html", {"error": str(exc)}, status=410)
    if request.method == "POST":
        try:
            services.accept_invitation(token=token, user=request.user)
        except (PermissionDenied, ValidationError) as exc:
            message = exc.messages[0] if isinstance(exc, ValidationError) else str(exc)
            return render(
                request,
                "tenancy/accept_invitation.html",
                {"invitation": invitation, "error": message},
                status=403,
            )
        messages.success(request, f"You joined {invitation.organization.name}.")
        return redirect("admin:index")
    return render(request, "tenancy/accept_invitation.html", {"invitation": invitation, "token": token})
