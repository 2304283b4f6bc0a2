from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "apps.accounts"
    label = "accounts"

    def ready(self) -> None:
        # allauth's JWT key loading uses cryptography.hazmat.primitives.serialization
        # without importing the submodule; make sure it is loaded.
        import cryptography.hazmat.primitives.serialization  # noqa: F401

        from apps.accounts import mfa, signals  # noqa: F401

        mfa.install()  # allauth's WebAuthn flows check origins our way
