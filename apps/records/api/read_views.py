"""GET of records without DRF's request machinery (DESIGN.md 6: read paths are lean).

The hottest endpoints skip DRF's request wrapper, content negotiation and response
finalisation, which cost more than the record service itself; they keep Django's
middleware (host validation, security headers, gzip) and authenticate, refuse and render
exactly as the DRF views do. Anything else (other methods, a client that does not accept
JSON) goes to the DRF views.
"""

from __future__ import annotations

from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt

from apps.accounts.authentication import BearerAuthentication
from apps.core.errors import envelope, error_items_for
from apps.core.renderers import dumps
from apps.records import records, records_list
from apps.records.api import views

_bearer = BearerAuthentication()
_ACCEPTED = ("application/json", "application/*", "*/*")
_drf_list = views.RecordListView.as_view()
_drf_detail = views.RecordDetailView.as_view()


def _lean(request) -> bool:
    if request.method not in ("GET", "HEAD"):
        return False
    accept = request.META.get("HTTP_ACCEPT")
    return not accept or any(kind in accept for kind in _ACCEPTED)


def _json(data, status: int = 200) -> HttpResponse:
    return HttpResponse(dumps(data), status=status, content_type="application/json")


def _refused(exc: Exception) -> HttpResponse:
    mapped = error_items_for(exc)
    if mapped is None:
        raise exc  # a bug: Django's handler logs it and answers 500 in the envelope
    status, items, headers = mapped
    response = _json(envelope(status, items), status)
    for name, value in headers.items():
        response[name] = value
    if status == 401:
        response["WWW-Authenticate"] = _bearer.authenticate_header(None)
    return response


def _actor(request):
    authenticated = _bearer.authenticate(request)
    return None if authenticated is None else authenticated[0]


@csrf_exempt
def record_list(request, name: str):
    if not _lean(request):
        return _drf_list(request, name=name)
    try:
        body = records_list.record_list(
            actor=_actor(request), collection=name, params=request.GET
        )
    except Exception as exc:
        return _refused(exc)
    return _json(body)


@csrf_exempt
def record_detail(request, name: str, record_id: str):
    if not _lean(request):
        return _drf_detail(request, name=name, record_id=record_id)
    try:
        record = records.record_get(
            actor=_actor(request),
            collection=name,
            record_id=record_id,
            params=request.GET,
        )
    except Exception as exc:
        return _refused(exc)
    etag = records.etag_for(record)
    if etag in views.entity_tags(request.META.get("HTTP_IF_NONE_MATCH")):
        response = HttpResponse(status=304)
    else:
        response = _json(record)
    response["ETag"] = etag
    return response
