"""Users (the `users` auth collection's table) and API keys."""

from __future__ import annotations

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models

from apps.core.ids import new_id

USER_TABLE = "baas_users"


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create(self, email: str, password: str | None, **extra) -> "User":
        """An account made by an operator (command line, console, tests): its address
        counts as verified."""
        from allauth.account.models import EmailAddress

        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        EmailAddress.objects.using(self._db).create(
            user=user, email=user.email, primary=True, verified=True
        )
        return user

    def create_user(self, email: str, password: str | None = None, **extra) -> "User":
        extra.setdefault("is_superuser", False)
        return self._create(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra):
        extra.update(is_superuser=True, is_staff=True)
        return self._create(email, password, **extra)

    def create_guest(self) -> "User":
        """An anonymous account (apps.accounts.guests): no email, no usable password;
        it can sign in only on the device that holds its tokens, until upgraded."""
        user = self.model(email=None, is_guest=True)
        user.set_unusable_password()
        user.save(using=self._db)
        return user


class User(AbstractBaseUser, PermissionsMixin):
    """An account. App teams add profile columns to this table through the schema API."""

    id = models.CharField(
        primary_key=True, max_length=15, default=new_id, editable=False
    )
    # NULL for guests (unique still: any number of NULLs, each address once).
    email = models.EmailField(unique=True, max_length=254, null=True, blank=True)
    #: An anonymous account until it gets an email address (apps.accounts.guests).
    is_guest = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    created = models.DateTimeField(auto_now_add=True, db_index=True)
    updated = models.DateTimeField(auto_now=True)

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    objects = UserManager()

    class Meta:
        db_table = USER_TABLE

    def __str__(self) -> str:
        return self.email or f"guest {self.pk}"

    @classmethod
    def from_db(cls, db, field_names, values):
        user = super().from_db(db, field_names, values)
        user._stored_active = user.__dict__.get("is_active")
        return user

    def save(self, *args, **kwargs) -> None:
        """No email is NULL, never "" (allauth writes "" when an address is removed,
        and "" is a value the unique index would allow once). An account that gets an
        address stops being a guest, however it got it (allauth's verification flow
        sets the email with `update_fields=["email"]`)."""
        if not self.email:
            self.email = None
        update_fields = kwargs.get("update_fields")
        if self.is_guest and self.email:
            self.is_guest = False
            if update_fields is not None:
                kwargs["update_fields"] = {*update_fields, "is_guest"}
        super().save(*args, **kwargs)

    def set_password(self, raw_password) -> None:
        super().set_password(raw_password)
        self._password_changed = True

    def credentials_changed(self) -> bool:
        """True once after a save that changed the password or deactivated the account:
        the moment every device session must end (apps.accounts.signals)."""
        changed = self.__dict__.pop("_password_changed", False)
        deactivated = getattr(self, "_stored_active", True) and not self.is_active
        self._stored_active = self.is_active
        return changed or deactivated


class ApiKey(models.Model):
    """A scoped, revocable key for server-side code; only a SHA-256 hash is stored."""

    id = models.CharField(
        primary_key=True, max_length=15, default=new_id, editable=False
    )
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True)
    key_hash = models.CharField(max_length=64)
    scopes = models.JSONField(default=list)
    created = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "baas_api_keys"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix})"
