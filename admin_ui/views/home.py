"""The overview page."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.shortcuts import render
from django.urls import path

from admin_ui.access import console_page
from admin_ui.nav import entries
from apps.collections.services import list_specs


@console_page
def home(request):
    specs = sorted(list_specs(), key=lambda spec: (spec.system is False, spec.name))
    urls = {item["label"]: item["url"] for item in entries()}
    tiles = [
        {
            "label": "Collections",
            "value": len(specs),
            "url": urls.get("Collections", "/console/"),
        },
        {
            "label": "Users",
            "value": get_user_model().objects.filter(is_guest=False).count(),
            "url": urls.get("Users", "/console/"),
        },
    ]
    return render(request, "admin_ui/home.html", {"collections": specs, "tiles": tiles})


urlpatterns = [path("", home, name="home")]
