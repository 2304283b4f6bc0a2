"""The `baas` command: serve (everything in one process tree), the production parts, admin tasks.

Anything it does not know is handed to Django's manage.py (`baas shell`, `baas check --deploy`).
"""

from __future__ import annotations

import argparse
import getpass
import os
import shutil
import signal
import subprocess
import sys
import time

from baas import lifecycle
from baas.ports import port_in_use_error

STOP_TIMEOUT = 8.0


def _setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "baas.settings")
    import django

    from apps.hooks.loader import HookLoadError

    try:
        django.setup()
    except HookLoadError as exc:  # one screen: which file, which line, what error
        print(exc, file=sys.stderr, flush=True)
        raise SystemExit(1) from None


def _spawn(name: str, argv: list[str], **extra_env: str) -> subprocess.Popen:
    """A child that gets SIGTERM if the supervisor dies; its own workers (granian's) do
    the same with it (baas/lifecycle.py)."""
    env = {**os.environ, lifecycle.ENV_FLAG: "1", **extra_env}
    # preexec_fn is fork-safe here: no other thread runs (see _close_database).
    return subprocess.Popen(  # noqa: PLW1509
        argv, preexec_fn=lifecycle.die_with_parent, env=env
    )


def _where(host: str, port: int, uds: str | None) -> list[str]:
    return ["--uds", uds] if uds else ["--host", host, "--port", str(port)]


def _granian_argv(
    interface: str,
    target: str,
    host: str,
    port: int,
    workers: int,
    threads: int,
    uds: str | None = None,
) -> list[str]:
    """granian: a Rust HTTP server, several times less overhead per request than
    gunicorn or uvicorn on this stack (bench/RESULTS.md)."""
    return [
        sys.executable,
        "-m",
        "granian",
        "--interface",
        interface,
        target,
        *_where(host, port, uds),
        "--workers",
        str(workers),
        "--blocking-threads",
        str(threads),
        "--workers-kill-timeout",
        "5",
        "--no-access-log",
        "--log-level",
        "warning",
    ]


def _rest_api_argv(args, uds: str | None = None) -> list[str]:
    """The REST API on granian's WSGI interface (`baas serve` and `baas web`): through an
    ASGI server and a thread-pool bridge the same requests cost 1.4-1.8x the CPU
    (bench/RESULTS.md, 2026-12-06)."""
    return _granian_argv(
        "wsgi",
        "baas.wsgi:application",
        args.host,
        args.port,
        args.workers,
        args.threads,
        uds,
    )


def _close_database() -> None:
    """Close connections and stop connection-pool threads before forking children."""
    from django.db import connections

    for connection in connections.all(initialized_only=True):
        connection.close()
        if hasattr(connection, "close_pool"):  # PostgreSQL with Django's pool
            connection.close_pool()


def _stop_all(children: dict[str, subprocess.Popen]) -> None:
    realtime = children.get("realtime")
    if realtime is not None and realtime.poll() is None and "front" in children:
        # First realtime, while the proxy still carries its "going away" close frames.
        realtime.send_signal(signal.SIGTERM)
        try:
            realtime.wait(timeout=STOP_TIMEOUT / 2)
        except subprocess.TimeoutExpired:
            pass
    for proc in children.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    for proc in children.values():
        remaining = max(0.1, deadline - time.monotonic())
        try:
            proc.wait(timeout=remaining)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _supervise(children: dict[str, subprocess.Popen]) -> int:
    """Wait until a signal arrives or a child dies; then stop every child."""
    stopping = {"signal": None}

    def on_signal(signum, frame):
        stopping["signal"] = signum

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    exit_code = 0
    while stopping["signal"] is None:
        for name, proc in children.items():
            code = proc.poll()
            if code is not None:
                print(
                    f"baas: {name} exited with code {code}; stopping.", file=sys.stderr
                )
                stopping["signal"] = "child"
                exit_code = code or 1
                break
        time.sleep(0.2)
    _stop_all(children)
    return exit_code


def _celery_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "celery", "-A", "baas", "--quiet", *args]


def _worker_argv(concurrency: int, pool: str) -> list[str]:
    return _celery_argv(
        "worker",
        "--pool",
        pool,
        "--concurrency",
        str(concurrency),
        "--loglevel",
        "WARNING",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    )


def _beat_argv() -> list[str]:
    return _celery_argv("beat", "--loglevel", "WARNING")  # CELERY_BEAT_SCHEDULER


def _asgi_argv(
    host: str, port: int, workers: int = 1, uds: str | None = None
) -> list[str]:
    """Realtime on uvicorn: protocol pings find vanished clients, frames are capped at
    BAAS_REALTIME_MAX_FRAME before they are buffered, no per-message compression (its
    state costs memory on every idle connection)."""
    from django.conf import settings

    heartbeat = settings.BAAS_REALTIME_HEARTBEAT
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "baas.asgi:application",
        *_where(host, port, uds),
        "--workers",
        str(workers),
        "--no-access-log",
        "--log-level",
        "warning",
        "--lifespan",
        "off",
        "--timeout-graceful-shutdown",
        "5",
        "--ws-max-size",
        str(settings.BAAS_REALTIME_MAX_FRAME),
        "--ws-ping-interval",
        str(heartbeat),
        "--ws-ping-timeout",
        str(2 * heartbeat),
        "--ws-per-message-deflate",
        "false",
    ]


def _self_command() -> str:
    """How to run this command again from the same directory: `baas` only if it is on PATH."""
    script = os.path.abspath(sys.argv[0])
    on_path = shutil.which("baas")
    if os.path.basename(script) != "baas" or (
        on_path and os.path.samefile(on_path, script)
    ):
        return "baas"
    relative = os.path.relpath(script)
    return script if relative.startswith("..") else relative


def _migrate() -> None:
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)


def _port_taken(args) -> bool:
    """Say so in one line if another server (or anything) listens on the port."""
    error = port_in_use_error(args.host, args.port)
    if error:
        print(error, file=sys.stderr, flush=True)
    return error is not None


def cmd_serve(args) -> int:
    _setup_django()
    from django.conf import settings

    from apps.accounts.models import User

    _migrate()
    url = f"http://{args.host}:{args.port}"
    print(f"BaaS is running at {url}")
    print(f"  API {url}/api/v1   docs {url}/api/docs   console {url}/console/")
    print(f"  data directory {settings.DATA_DIR}")
    if not User.objects.filter(is_superuser=True).exists():
        print("No superuser yet. Create one (in another terminal) with:")
        print(
            f"  {_self_command()} createsuperuser --email you@example.com --password 'a long password'"
        )
    print("Press Ctrl-C to stop.", flush=True)
    _close_database()
    children = _http_children(args, settings.DATA_DIR / "run")
    if not args.no_worker:
        children["worker"] = _spawn("worker", _worker_argv(1, "threads"))
        children["beat"] = _spawn("beat", _beat_argv())
    return _supervise(children)


def _http_children(args, run_dir) -> dict[str, subprocess.Popen]:
    """REST on granian and realtime on uvicorn, each on a Unix socket, behind haproxy on
    the public port (baas/front.py); without haproxy, one ASGI process serves both."""
    from baas import front

    haproxy = front.haproxy_path()
    if haproxy is None:
        print(
            "baas: haproxy is not installed (scripts/serve installs it): REST and "
            "realtime share one slower ASGI process.",
            file=sys.stderr,
            flush=True,
        )
        argv = _asgi_argv(args.host, args.port)
        return {"web": _spawn("web", argv, BAAS_REALTIME_SERVER="1")}
    run_dir.mkdir(parents=True, exist_ok=True)
    # One REST server per socket (`--workers` of them, one granian worker each): the
    # proxy balances requests over sockets, not over processes sharing one.
    # Named by port: `baas serve` refuses a port in use, so these are its own.
    web_socks = [
        run_dir / f"http-web-{args.port}-{i}.sock" for i in range(max(1, args.workers))
    ]
    rt_sock = run_dir / f"http-realtime-{args.port}.sock"
    for stale in [*web_socks, rt_sock]:
        stale.unlink(missing_ok=True)
    config = run_dir / f"haproxy-{args.port}.cfg"
    config.write_text(
        front.config(
            bind=f"{args.host}:{args.port}",
            web=[f"unix@{sock}" for sock in web_socks],
            realtime=[f"unix@{rt_sock}"],
            internal=True,
        )
    )
    behind = {front.ENV_BEHIND_FRONT: "1"}
    children = {
        "realtime": _spawn(
            "realtime",
            _asgi_argv(args.host, args.port, uds=str(rt_sock)),
            BAAS_REALTIME_SERVER="1",
            **behind,
        )
    }
    one_worker = argparse.Namespace(**{**vars(args), "workers": 1})
    for i, sock in enumerate(web_socks):
        argv = _rest_api_argv(one_worker, uds=str(sock))
        children[f"web{i}"] = _spawn(f"web{i}", argv, **behind)
    children["front"] = _spawn("front", [haproxy, "-db", "-f", str(config)])
    return children


def cmd_web(args) -> int:
    """REST API on WSGI workers (production)."""
    _setup_django()
    argv = _rest_api_argv(args)
    if args.access_log:
        argv[argv.index("--no-access-log")] = "--access-log"
    return _supervise({"web": _spawn("web", argv)})


def cmd_realtime(args) -> int:
    """WebSocket/SSE process (production): the ASGI application."""
    _setup_django()
    argv = _asgi_argv(args.host, args.port, args.workers)
    return _supervise({"realtime": _spawn("realtime", argv, BAAS_REALTIME_SERVER="1")})


def cmd_front(args) -> int:
    """haproxy on one address in front of `baas web` and `baas realtime` processes
    (production; baas/front.py has the routing rules)."""
    _setup_django()
    from django.conf import settings

    from baas import front

    haproxy = front.haproxy_path()
    if haproxy is None:
        print(
            "baas: haproxy is not installed (Debian: apt-get install haproxy).",
            file=sys.stderr,
        )
        return 2
    config = front.config(
        bind=f"{args.host}:{args.port}", web=args.web, realtime=args.realtime
    )
    if args.print_config:
        print(config, end="")
        return 0
    run_dir = settings.DATA_DIR / "run"
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / f"front-{args.port}.cfg"
    path.write_text(config)
    return _supervise({"front": _spawn("front", [haproxy, "-db", "-f", str(path)])})


def cmd_worker(args) -> int:
    _setup_django()
    return _supervise(
        {"worker": _spawn("worker", _worker_argv(args.concurrency, args.pool))}
    )


def cmd_beat(args) -> int:
    _setup_django()
    return _supervise({"beat": _spawn("beat", _beat_argv())})


def cmd_migrate(args) -> int:
    _setup_django()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=1)
    return 0


def cmd_createsuperuser(args) -> int:
    _setup_django()
    from django.contrib.auth.password_validation import validate_password
    from django.core.exceptions import ValidationError
    from django.core.validators import validate_email

    from apps.accounts.models import User

    _migrate()
    email = args.email or input("Email: ").strip()
    password = args.password or getpass.getpass("Password: ")
    try:
        validate_email(email)
        validate_password(password)
    except ValidationError as exc:
        print("baas: " + " ".join(exc.messages), file=sys.stderr)
        return 2
    if User.objects.filter(email=email.lower()).exists():
        user = User.objects.get(email=email.lower())
        if user.is_superuser and user.check_password(password):
            print(f"Superuser {email} already exists.")
            return 0
        print(f"baas: a user with email {email} already exists.", file=sys.stderr)
        return 1
    User.objects.create_superuser(email=email, password=password)
    print(f"Superuser {email} created.")
    return 0


def cmd_apikey(args) -> int:
    _setup_django()
    from datetime import timedelta

    from django.utils import timezone

    from apps.accounts.apikeys import apikey_create, apikey_revoke
    from apps.accounts.models import ApiKey
    from apps.core.exceptions import ApiError

    _migrate()
    if args.action == "create":
        expires = (
            timezone.now() + timedelta(days=args.expires_days)
            if args.expires_days
            else None
        )
        scopes = [s.strip() for s in (args.scopes or "").split(",") if s.strip()]
        try:
            key, plaintext = apikey_create(
                name=args.name or "", scopes=scopes, expires_at=expires
            )
        except ApiError as exc:
            print(f"baas: {exc}", file=sys.stderr)
            return 2
        print(f"API key {key.name!r} (id {key.pk}, scopes {','.join(key.scopes)}).")
        print("Store it now; it is not shown again:")
        print(plaintext)
        return 0
    if args.action == "list":
        for key in ApiKey.objects.order_by("created"):
            state = "revoked" if key.revoked_at else "active"
            print(
                f"{key.pk}  {key.name}  {','.join(key.scopes)}  {state}  last used {key.last_used_at or '-'}"
            )
        return 0
    if args.action == "revoke":
        if not ApiKey.objects.filter(pk=args.id).exists():
            print(f"baas: no API key {args.id}", file=sys.stderr)
            return 1
        apikey_revoke(key_id=args.id)
        print(f"API key {args.id} revoked.")
        return 0
    return 2


def cmd_hooks(args) -> int:
    """`baas hooks check`: import the hooks modules as a server would, list what they
    register (a module that fails to import: its file, line and error, and status 1)."""
    _setup_django()
    from apps.hooks.registry import registry

    print(f"hooks modules: {', '.join(registry.modules) or 'none'}")
    for (kind, action, collection), hooks in sorted(registry.hooks.items()):
        for hook in hooks:
            print(f"  @{kind}({action!r}, {collection!r})  {hook.name}")
    for route in registry.routes:
        print(
            f"  @route {route.method} /api/v1/fn{route.path}  auth={route.auth}  "
            f"{route.name}"
        )
    crons = {cron.task: cron for cron in registry.crons}
    for name in sorted(registry.tasks):
        if name in crons:
            print(f"  @cron({crons[name].expr!r}, name={crons[name].name!r})  {name}")
        else:
            print(f"  @task  {name}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="baas", description=__doc__)
    sub = parser.add_subparsers(dest="command")

    serve = sub.add_parser("serve", help="run everything on the embedded default")
    serve.add_argument("--host", default=os.environ.get("BAAS_HOST", "127.0.0.1"))
    serve.add_argument(
        "--port", type=int, default=int(os.environ.get("BAAS_PORT", "8000"))
    )
    serve.add_argument(
        "--no-worker",
        action="store_true",
        help="do not start the embedded worker and beat",
    )
    serve.add_argument(
        "--workers",
        type=int,
        default=int(os.environ.get("BAAS_SERVE_WORKERS", "2")),
        help="HTTP processes (one per core)",
    )
    serve.add_argument(
        "--threads",
        type=int,
        default=int(os.environ.get("BAAS_SERVE_THREADS", "2")),
        help="threads per HTTP process",
    )
    serve.set_defaults(func=cmd_serve)

    web = sub.add_parser("web", help="REST API on granian WSGI workers")
    web.add_argument("--host", default="0.0.0.0")
    web.add_argument("--port", type=int, default=8000)
    web.add_argument(
        "--workers", type=int, default=int(os.environ.get("BAAS_WEB_WORKERS", "2"))
    )
    web.add_argument(
        "--threads", type=int, default=int(os.environ.get("BAAS_WEB_THREADS", "4"))
    )
    web.add_argument("--access-log", action="store_true")
    web.set_defaults(func=cmd_web)

    realtime = sub.add_parser("realtime", help="realtime (ASGI) process")
    realtime.add_argument("--host", default="0.0.0.0")
    realtime.add_argument("--port", type=int, default=8001)
    realtime.add_argument("--workers", type=int, default=1)
    realtime.set_defaults(func=cmd_realtime)

    front_cmd = sub.add_parser(
        "front", help="haproxy: one address for REST and realtime processes"
    )
    front_cmd.add_argument("--host", default="0.0.0.0")
    front_cmd.add_argument("--port", type=int, default=8000)
    front_cmd.add_argument(
        "--web", action="append", required=True, help="host:port of a `baas web`"
    )
    front_cmd.add_argument(
        "--realtime",
        action="append",
        required=True,
        help="host:port of a `baas realtime`",
    )
    front_cmd.add_argument(
        "--print-config", action="store_true", help="print the haproxy configuration"
    )
    front_cmd.set_defaults(func=cmd_front)

    worker = sub.add_parser("worker", help="Celery worker")
    worker.add_argument("--concurrency", type=int, default=2)
    worker.add_argument("--pool", default="prefork")
    worker.set_defaults(func=cmd_worker)

    sub.add_parser("beat", help="Celery beat (run exactly one)").set_defaults(
        func=cmd_beat
    )
    sub.add_parser("migrate", help="apply database migrations").set_defaults(
        func=cmd_migrate
    )

    su = sub.add_parser("createsuperuser", help="create a superuser")
    su.add_argument("--email")
    su.add_argument("--password")
    su.set_defaults(func=cmd_createsuperuser)

    key = sub.add_parser("apikey", help="create, list or revoke API keys")
    key.add_argument("action", choices=["create", "list", "revoke"])
    key.add_argument("id", nargs="?", help="key id (revoke)")
    key.add_argument("--name")
    key.add_argument(
        "--scopes", help="comma-separated: records:read,records:write,schema,push:send"
    )
    key.add_argument("--expires-days", type=int)
    key.set_defaults(func=cmd_apikey)
    hooks = sub.add_parser(
        "hooks", help="check the hooks modules: import them, list what they register"
    )
    hooks.add_argument("action", choices=["check"])
    hooks.set_defaults(func=cmd_hooks)
    return parser


LISTENING = {"serve", "web", "realtime", "front"}  # the commands that listen on --port

KNOWN = {
    "serve",
    "web",
    "realtime",
    "front",
    "worker",
    "beat",
    "migrate",
    "createsuperuser",
    "apikey",
    "hooks",
}


def _settings_error() -> str | None:
    """Load the settings; a configuration error is one clear line, not a traceback."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "baas.settings")
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured

    try:
        _ = settings.INSTALLED_APPS
    except ImproperlyConfigured as exc:
        return f"baas: configuration error: {exc}"
    return None


def _announce_data_dir() -> None:
    """One line on stderr naming the data directory (stdout may be data: an API key)."""
    from django.conf import settings

    print(f"baas: data directory {settings.DATA_DIR}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] not in KNOWN and not argv[0].startswith("-"):
        if error := _settings_error():
            print(error, file=sys.stderr)
            return 2
        _announce_data_dir()
        from django.core.management import execute_from_command_line

        execute_from_command_line(["baas", *argv])
        return 0
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    if error := _settings_error():
        print(error, file=sys.stderr)
        return 2
    if args.command in LISTENING and _port_taken(args):
        return 1  # before anything else is printed or started
    if args.command != "serve":  # serve names it in its banner, on stdout
        _announce_data_dir()
    if args.command in LISTENING:
        _raise_file_limit()
    return args.func(args)


def _raise_file_limit() -> None:
    """Each realtime connection holds a file descriptor (two through the proxy): raise
    the soft limit, which is often 1024, to the hard one (the children inherit it)."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else 65536
    if soft != resource.RLIM_INFINITY and soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        except (ValueError, OSError):
            pass


if __name__ == "__main__":
    sys.exit(main())
