"""The admin console (pages arrive with their own issue; this is the shell)."""

from django.shortcuts import render

from apps.core.csp import content_security_policy


@content_security_policy
def console_home(request):
    return render(request, "admin_ui/home.html")
