"""VAPID keys (generated once per data dir, or configured) and the endpoint allow-list
that keeps Web Push from posting to internal addresses (SSRF)."""

from __future__ import annotations

import base64
import multiprocessing
import stat

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from apps.core.exceptions import InvalidInput
from apps.push import vapid
from apps.push.providers.base import ProviderNotConfigured

DEFAULT_HOSTS = [
    "fcm.googleapis.com",
    "updates.push.services.mozilla.com",
    "*.push.services.mozilla.com",
    "*.notify.windows.com",
    "web.push.apple.com",
    "*.push.apple.com",
]


def point(key: ec.EllipticCurvePrivateKey) -> str:
    raw = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@pytest.fixture
def push_dir(settings, tmp_path):
    settings.BAAS_VAPID_PRIVATE_KEY = ""
    settings.BAAS_PUSH_DIR = tmp_path / "data" / "push"
    return settings.BAAS_PUSH_DIR


# --- keys ---------------------------------------------------------------------------


def test_keys_are_generated_once_into_the_push_dir_readable_only_by_the_owner(
    push_dir,
):
    keys = vapid.keys()
    path = push_dir / "vapid_private.pem"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in push_dir.iterdir()) == ["vapid_private.pem"]
    assert point(vapid.load_or_create_key(path)) == keys.public_key
    written = path.read_bytes()
    assert vapid.keys() is keys
    assert path.read_bytes() == written


def test_the_public_key_is_what_browsers_take_as_application_server_key(push_dir):
    raw = base64.urlsafe_b64decode(vapid.keys().public_key + "=")
    assert len(raw) == 65 and raw[0] == 4
    assert "=" not in vapid.keys().public_key


def _key_in_a_new_process(barrier, queue) -> None:
    barrier.wait()
    queue.put(vapid.keys().public_key)


def test_processes_starting_at_once_end_with_one_key(push_dir):
    context = multiprocessing.get_context("fork")
    barrier, queue = context.Barrier(6), context.Queue()
    processes = [
        context.Process(target=_key_in_a_new_process, args=(barrier, queue))
        for _ in range(6)
    ]
    for process in processes:
        process.start()
    seen = {queue.get(timeout=20) for _ in processes}
    for process in processes:
        process.join(10)
        assert process.exitcode == 0
    assert len(seen) == 1
    assert sorted(p.name for p in push_dir.iterdir()) == ["vapid_private.pem"]
    assert point(vapid.load_or_create_key(push_dir / "vapid_private.pem")) in seen


@pytest.mark.parametrize("form", ["raw", "pem", "pem file", "der"])
def test_a_configured_key_is_used_instead_of_generating_one(
    push_dir, settings, tmp_path, form
):
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    if form == "raw":  # what `web-push generate-vapid-keys` prints
        raw = key.private_numbers().private_value.to_bytes(32, "big")
        value = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    elif form == "pem":
        value = pem.decode()
    elif form == "pem file":
        (tmp_path / "vapid.pem").write_bytes(pem)
        value = str(tmp_path / "vapid.pem")
    else:
        der = key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
        value = base64.b64encode(der).decode()
    settings.BAAS_VAPID_PRIVATE_KEY = value
    assert vapid.keys().public_key == point(key)
    assert not push_dir.exists()


@pytest.mark.parametrize(
    "value", ["not a key", "AAAA", "/nonexistent/vapid.pem", "-----BEGIN junk"]
)
def test_a_configured_key_that_is_not_one_is_a_configuration_error(
    push_dir, settings, value
):
    settings.BAAS_VAPID_PRIVATE_KEY = value
    with pytest.raises(ProviderNotConfigured, match="BAAS_VAPID_PRIVATE_KEY"):
        vapid.keys()


def test_a_configured_key_on_another_curve_is_refused(push_dir, settings):
    key = ec.generate_private_key(ec.SECP384R1())
    settings.BAAS_VAPID_PRIVATE_KEY = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    with pytest.raises(ProviderNotConfigured, match="P-256"):
        vapid.keys()


# --- check_endpoint -------------------------------------------------------------------


@pytest.fixture
def defaults(settings):
    settings.BAAS_WEBPUSH_ALLOWED_HOSTS = list(DEFAULT_HOSTS)


def test_the_settings_default_is_the_public_push_services():
    from django.conf import settings

    assert settings.BAAS_WEBPUSH_ALLOWED_HOSTS == DEFAULT_HOSTS


@pytest.mark.parametrize(
    "url",
    [
        "https://fcm.googleapis.com/fcm/send/dQ3a:APA91bGx-yz_12",
        "https://fcm.googleapis.com/wp/dQ3a:APA91bGx",
        "https://updates.push.services.mozilla.com/wpush/v2/gAAAAABk-x_y",
        "https://updates.push.services.mozilla.com/wpush/v1/gAAAA",
        "https://wns2-by3p.notify.windows.com/w/?token=BQYAAAD%2b",
        "https://web.push.apple.com/QGuQyavXutnMH8nqjcpd-9M1",
        "https://api.push.apple.com/3/device/abc",
        "https://fcm.googleapis.com:443/fcm/send/x",
        "https://FCM.GoogleAPIs.com/fcm/send/x",
    ],
)
def test_the_public_push_services_are_accepted(defaults, url):
    vapid.check_endpoint(url)


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "https://169.254.169.254/latest/meta-data/",
        "https://fcm.googleapis.com@evil.example/",
        "https://user:password@fcm.googleapis.com/fcm/send/x",
        "https://evil.example/fcm/send/x",
        "https://fcm.googleapis.com.evil.example/fcm/send/x",
        "https://push.apple.com/x",  # the parent of *.push.apple.com
        "https://xpush.apple.com/x",
        "https://a..push.apple.com/x",
        "https://.push.apple.com/x",
        "http://fcm.googleapis.com/fcm/send/x",
        "http://a.push.apple.com:443/x",
        "https://fcm.googleapis.com:8443/fcm/send/x",
        "https://fcm.googleapis.com./fcm/send/x",
        "https://127.0.0.1/",
        "https://[::1]/",
        "https://[::ffff:169.254.169.254]/",
        "https://2130706433/",
        "https://0177.0.0.1/",
        "https://localhost/",
        "ftp://fcm.googleapis.com/x",
        "fcm.googleapis.com/fcm/send/x",
        "//fcm.googleapis.com/fcm/send/x",
        "https:/fcm.googleapis.com/x",
        "https://fcm.googleapis.com\\@evil.example/",
        "https://evil.example\\.fcm.googleapis.com/",
        "https://evil.example#.fcm.googleapis.com/",
        "https://fcm.googleapis.com/x#frag",
        " https://fcm.googleapis.com/x",
        "https://fcm.googleapis.com/x y",
        "https://fcm.googleapis.com/x\r\nHost: evil",
        "https://fcm.googleapis.com:99999/x",
        "https://fcm.googleapis.com:abc/x",
        "https://fcm.googleapis.com/" + "a" * 2000,
        "https://fcm.googleapis.com\u3002evil.example/",
        "",
    ],
)
def test_anything_else_is_refused(defaults, url):
    with pytest.raises(InvalidInput) as refused:
        vapid.check_endpoint(url)
    error = refused.value.errors[0]
    assert (error.code, error.param) == (
        "endpoint_not_allowed",
        "subscription.endpoint",
    )
    assert refused.value.status == 400


def test_a_url_of_exactly_2000_characters_is_still_accepted(defaults):
    url = "https://fcm.googleapis.com/fcm/send/"
    vapid.check_endpoint(url + "a" * (2000 - len(url)))


def test_a_bare_suffix_entry_covers_subdomains_only(settings):
    settings.BAAS_WEBPUSH_ALLOWED_HOSTS = ["*.push.apple.com"]
    vapid.check_endpoint("https://a.push.apple.com/x")
    vapid.check_endpoint("https://a.b.push.apple.com/x")
    with pytest.raises(InvalidInput):
        vapid.check_endpoint("https://push.apple.com/x")
    settings.BAAS_WEBPUSH_ALLOWED_HOSTS = ["*.push.apple.com", "push.apple.com"]
    vapid.check_endpoint("https://push.apple.com/x")


def test_plain_http_only_for_an_entry_naming_that_exact_host_and_port(settings):
    settings.BAAS_WEBPUSH_ALLOWED_HOSTS = ["127.0.0.1:8080", "push.test:8081"]
    vapid.check_endpoint("http://127.0.0.1:8080/push/a")
    vapid.check_endpoint("https://127.0.0.1:8080/push/a")
    vapid.check_endpoint("http://push.test:8081/push/a")
    for url in (
        "http://127.0.0.1:8081/push/a",
        "http://127.0.0.1/push/a",
        "https://127.0.0.1/push/a",
        "http://push.test/push/a",
        "http://localhost:8080/push/a",
    ):
        with pytest.raises(InvalidInput):
            vapid.check_endpoint(url)


def test_an_ip_literal_is_accepted_only_when_listed_exactly(settings):
    settings.BAAS_WEBPUSH_ALLOWED_HOSTS = ["10.0.0.5:8443", "[fd00::1]", "*.0.0.5"]
    vapid.check_endpoint("https://10.0.0.5:8443/x")
    vapid.check_endpoint("https://[fd00::1]/x")
    vapid.check_endpoint("https://[fd00:0::1]/x")
    for url in ("https://10.0.0.5/x", "https://10.0.0.6:8443/x", "https://[fd00::2]/x"):
        with pytest.raises(InvalidInput):
            vapid.check_endpoint(url)


def test_a_port_other_than_443_needs_an_entry_with_that_port(settings):
    settings.BAAS_WEBPUSH_ALLOWED_HOSTS = ["push.example.com:8443", "*.example.net"]
    vapid.check_endpoint("https://push.example.com:8443/x")
    for url in (
        "https://push.example.com/x",
        "https://push.example.com:9443/x",
        "https://a.example.net:8443/x",
    ):
        with pytest.raises(InvalidInput):
            vapid.check_endpoint(url)
    vapid.check_endpoint("https://a.example.net/x")


def test_nothing_is_allowed_when_the_list_is_empty(settings):
    settings.BAAS_WEBPUSH_ALLOWED_HOSTS = []
    with pytest.raises(InvalidInput, match="not an allowed push service"):
        vapid.check_endpoint("https://fcm.googleapis.com/fcm/send/x")


def test_malformed_entries_match_nothing_and_break_nothing(settings):
    settings.BAAS_WEBPUSH_ALLOWED_HOSTS = ["[::1]:x", "[::1]junk", "host:abc", "*.", ""]
    for url in (
        "https://[::1]/x",
        "https://host/x",
        "https://a.host/x",
        "https://a./x",
    ):
        with pytest.raises(InvalidInput):
            vapid.check_endpoint(url)


def test_an_ipv4_address_in_brackets_is_refused_even_when_listed(settings):
    settings.BAAS_WEBPUSH_ALLOWED_HOSTS = ["127.0.0.1:8080"]
    vapid.check_endpoint("http://127.0.0.1:8080/x")
    with pytest.raises(InvalidInput):
        vapid.check_endpoint("http://[127.0.0.1]:8080/x")
