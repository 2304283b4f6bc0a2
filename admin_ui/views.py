"""The admin console (pages arrive with their own issue; this is the shell)."""

from django.shortcuts import render


def console_home(request):
    return render(request, "admin_ui/home.html")
