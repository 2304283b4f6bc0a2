"""One address for REST, realtime and files (API.md): haproxy in front.

REST runs on granian's WSGI workers and realtime on an ASGI process (DESIGN.md: each
scales separately); neither server can answer the other's protocol at full speed, so a
proxy routes by path: `/api/v1/realtime` and everything under it to realtime, the rest to
the REST workers. `baas serve` runs haproxy (Debian package) on the public port with both
servers on Unix sockets in the data directory; the production deployment in
docs/operations.md uses the same rules (`config()` prints them). The proxy sets
X-Baas-Client-Addr to the connecting address; the servers behind it take REMOTE_ADDR from
it (`client_addr_from_proxy`), so the proxy hop is invisible to rate limits.
"""

from __future__ import annotations

import os
import resource
import shutil

CLIENT_ADDR_HEADER = "X-Baas-Client-Addr"
TOO_LARGE = (
    '{"status":413,"errors":[{"code":"too_large",'
    '"message":"The request body is too large."}]}'
)
#: a chunked body over the limit is read this much further before the 413 (request_body)
LINGER_BYTES = 8 * 1024 * 1024
#: set for the servers that `baas serve` puts behind its own haproxy
ENV_BEHIND_FRONT = "BAAS_BEHIND_FRONT"


def haproxy_path() -> str | None:
    found = shutil.which("haproxy")
    if found is None and os.path.exists("/usr/sbin/haproxy"):  # sbin: not on every PATH
        found = "/usr/sbin/haproxy"
    return found


def max_connections() -> int:
    """As many as the file-descriptor limit allows (each proxied connection holds two)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    limit = hard if hard != resource.RLIM_INFINITY else 65536
    return max(256, min(20000, (limit - 200) // 2))


def config(
    *,
    bind: str,
    web: list[str],
    realtime: list[str],
    internal: bool = False,
    maxconn: int | None = None,
) -> str:
    """An haproxy configuration: `bind` (host:port), servers as `unix@/path` or
    host:port. `internal`: `baas serve`'s own proxy, whose hop the servers behind it
    hide (X-Baas-Client-Addr); otherwise X-Forwarded-For is appended, for
    BAAS_TRUSTED_PROXY_COUNT (docs/operations.md)."""
    from django.conf import settings

    maxconn = maxconn or max_connections()
    upload_limit = settings.BAAS_MAX_UPLOAD_SIZE
    body_limit = settings.BAAS_MAX_BODY_SIZE
    client = (
        f"http-request set-header {CLIENT_ADDR_HEADER} %[src]"
        if internal
        else "option forwardfor"
    )
    web_servers = "\n".join(
        f"    server web{i} {addr} maxconn 256" for i, addr in enumerate(web)
    )
    rt_servers = "\n".join(
        f"    server rt{i} {addr}" for i, addr in enumerate(realtime)
    )
    return f"""# Written by `baas serve` (baas/front.py); regenerated at every start.
global
    maxconn {maxconn}
    nbthread 1
    log stderr format raw local0 warning

defaults
    mode http
    log global
    option dontlognull
    timeout connect 5s
    timeout client 75s
    timeout server 600s
    timeout http-request 30s
    timeout http-keep-alive 75s
    timeout tunnel 1h
    timeout client-fin 5s
    option http-keep-alive
    http-reuse always
    # A server not listening yet (starting) or any more (stopping): try another one.
    retries 3
    option redispatch 1

frontend baas
    bind {bind}
    maxconn {maxconn}
    {client}
    # A body declared too large is refused here, before it is sent on, and the client's
    # connection is closed (as the servers do: baas/request_body.py): left to a server,
    # the proxy would go on reading the body nobody wants.
    # (haproxy's integers are 32-bit here: a length of 11 digits or more is too large
    # for any limit this can express; a limit over 2 GiB is left to the servers.)
    acl multipart req.hdr(content-type) -m beg -i multipart/form-data
    acl huge req.hdr(content-length),length gt 10
    acl over_upload req.hdr_val(content-length) gt {min(upload_limit, 2**31 - 1)}
    acl over_body req.hdr_val(content-length) gt {min(body_limit, 2**31 - 1)}
    http-request return status 413 content-type application/json string '{TOO_LARGE}' hdr Connection close if huge || multipart over_upload || !multipart over_body
    # Past this proxy, a server's own 413 (a chunked body) closes the connection too.
    http-response set-header Connection close if {{ status 413 }}
    use_backend realtime if {{ path /api/v1/realtime }} || {{ path_beg /api/v1/realtime/ }}
    default_backend web

backend web
    # Per request, to the least busy server: the proxy keeps few connections to each,
    # so several processes behind one socket would not share the load.
    balance leastconn
{web_servers}

backend realtime
    balance leastconn
{rt_servers}
"""


def client_addr_from_proxy(app):
    """WSGI middleware for a server behind `baas serve`'s haproxy on a Unix socket."""
    key = "HTTP_" + CLIENT_ADDR_HEADER.upper().replace("-", "_")

    def wrapped(environ, start_response):
        addr = environ.pop(key, None)
        if addr:
            environ["REMOTE_ADDR"] = addr
        return app(environ, start_response)

    return wrapped
