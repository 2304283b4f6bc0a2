"""Record requests go straight to their views (DESIGN.md 6: read paths are lean).

Record endpoints authenticate by bearer token or API key only, so the middleware listed
after this one in settings.MIDDLEWARE (sessions, CSRF, Django's auth, messages, allauth's
account and session tracking) serves cookie sessions and does nothing for them but cost
time: a quarter of a cached GET, with Django's URL resolving. This middleware sits after
the ones every API response needs (security headers, gzip, the error envelope, the body
limit, idempotency) and answers the two record routes of urls.py itself: the same views,
the same arguments, from urls.py's own patterns (tests/records/test_record_routes.py).
"""

from __future__ import annotations

from apps.records.api import urls

#: where baas/urls.py includes apps/records/api/urls.py
_PREFIX = "/api/v1/"
#: urls.py's own patterns for the two routes, so the two cannot drift apart
_ROUTES = tuple(
    (entry.pattern, entry.callback)
    for entry in urls.urlpatterns
    if entry.name in ("record-list", "record-detail")
)


def match(path: str):
    """(view, kwargs) for a record route, else None."""
    if path.startswith(_PREFIX) and "/records" in path:
        rest = path[len(_PREFIX) :]
        for pattern, view in _ROUTES:
            found = pattern.match(rest)
            if found is not None:
                return view, found[2]
    return None


class RecordRoutesMiddleware:
    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        route = match(request.path_info)
        if route is None:
            return self.get_response(request)
        view, kwargs = route
        response = view(request, **kwargs)
        # DRF's responses are rendered late, by Django's handler: here, then.
        if callable(getattr(response, "render", None)):
            response = response.render()
        return response
