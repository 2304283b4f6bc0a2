"""Channel configuration: which `channel:<name>` topics exist, who may subscribe and
publish (rules in the one expression language, with `@request.auth.*` and
`@channel.name`), and whether they track presence. Superusers and `schema` keys manage
them (`/api/v1/channels`); the schema export carries them."""

from __future__ import annotations

import re

from django.db import IntegrityError, transaction

from apps.collections.access import Access
from apps.collections.services import get_spec_by_id, require_schema_access
from apps.core.exceptions import Conflict, InvalidInput, NotFound
from apps.hooks import audit
from apps.realtime.models import Channel
from apps.rules.compiler import RuleError, check, compile_text
from apps.rules.parser import RuleSyntaxError, parse

NAME = re.compile(r"[A-Za-z0-9_.:-]{1,99}\*?|\*")
ACTIONS = ("subscribe", "publish")
MAX_CHANNELS = 500


class ChannelResolver:
    """Channel rules name no fields: only `@request.auth.*`, `@channel.name`, `@now`."""

    def __init__(self, access: Access) -> None:
        self.access = access

    def resolve(self, path):
        raise RuleError(
            "Channel rules have no fields; use @request.auth.<field> and @channel.name",
            path.pos,
        )

    def check_macro(self, macro) -> None:
        if macro.source == "auth":
            if len(macro.path) != 1 or not self.access.auth_field_known(macro.path[0]):
                raise RuleError(
                    f"@request.auth has no field {'.'.join(macro.path)!r}", macro.pos
                )
        elif macro.source == "body":
            raise RuleError("Channel rules have no @request.body", macro.pos)
        elif macro.source == "topic":
            raise RuleError("@topic.name exists in push topic rules only", macro.pos)


def _users_access(actor) -> Access:
    return Access(actor, get_spec_by_id("users"))


def to_json(channel: Channel) -> dict:
    return {
        "name": channel.name,
        "rules": {"subscribe": channel.subscribe_rule, "publish": channel.publish_rule},
        "presence": channel.presence,
        "created": channel.created.isoformat(timespec="milliseconds").replace(
            "+00:00", "Z"
        ),
        "updated": channel.updated.isoformat(timespec="milliseconds").replace(
            "+00:00", "Z"
        ),
    }


def _definition(channel: Channel) -> dict:
    """A channel as the schema document carries it (and the audit log keeps it)."""
    return {
        k: v for k, v in to_json(channel).items() if k not in ("created", "updated")
    }


def _audit(actor, request, channel: Channel, before: dict | None, after: dict | None):
    """The audit entry of a channel change, in its transaction: `channel.rules` when
    the rules changed (so filtering on it finds every rule change), none for no change."""
    if before is None:
        action = "channel.create"
    elif after is None:
        action = "channel.delete"
    elif before["rules"] != after["rules"]:
        action = "channel.rules"
    elif before == after:
        return
    else:
        action = "channel.update"
    audit.record(
        actor=actor,
        action=action,
        target=audit.Target("channel", str(channel.pk), channel.name),
        before=before,
        after=after,
        request=request,
    )


def _clean(data, *, partial: bool, param_prefix: str = "") -> dict:
    if not isinstance(data, dict):
        raise InvalidInput("A channel is a JSON object.", code="invalid_type")
    unknown = set(data) - {"name", "rules", "presence", "created", "updated"}
    if unknown:
        name = sorted(unknown)[0]
        raise InvalidInput(
            f"Unknown channel property {name!r}.", param=param_prefix + name
        )
    clean: dict = {}
    if "name" in data or not partial:
        name = data.get("name")
        if not isinstance(name, str) or not NAME.fullmatch(name):
            raise InvalidInput(
                "A channel name is 1-99 letters, digits or _.:- and may end with * "
                "(a prefix).",
                code="invalid_name",
                param=param_prefix + "name",
            )
        clean["name"] = name
    if "presence" in data:
        if not isinstance(data["presence"], bool):
            raise InvalidInput(
                "presence is true or false.", param=param_prefix + "presence"
            )
        clean["presence"] = data["presence"]
    if "rules" in data:
        rules = data["rules"]
        if not isinstance(rules, dict) or set(rules) - set(ACTIONS):
            raise InvalidInput(
                "rules has `subscribe` and `publish` (text, or null for superusers "
                "only).",
                param=param_prefix + "rules",
            )
        resolver = ChannelResolver(_users_access(None))
        for action, text in rules.items():
            param = f"{param_prefix}rules.{action}"
            if text is not None and not isinstance(text, str):
                raise InvalidInput("A rule is text or null.", param=param)
            if text:
                try:
                    check(parse(text), resolver)
                except RuleSyntaxError as exc:
                    raise InvalidInput(
                        f"Invalid expression: {exc}", code="invalid_rule", param=param
                    ) from None
            clean[f"{action}_rule"] = text
    return clean


def channel_list(*, actor) -> list[dict]:
    require_schema_access(actor)
    return [to_json(c) for c in Channel.objects.all()]


def _get(name: str) -> Channel:
    channel = (
        Channel.objects.filter(name=name).first() if isinstance(name, str) else None
    )
    if channel is None:
        raise NotFound(f"No channel named {name!r}.", code="channel_not_found")
    return channel


def channel_get(*, actor, name: str) -> dict:
    require_schema_access(actor)
    return to_json(_get(name))


def channel_create(*, actor, data, request=None) -> dict:
    require_schema_access(actor)
    clean = _clean(data, partial=False)
    if Channel.objects.count() >= MAX_CHANNELS:
        raise InvalidInput(f"At most {MAX_CHANNELS} channels.", code="too_many")
    try:
        with transaction.atomic():
            channel = Channel.objects.create(**clean)
            _audit(actor, request, channel, None, _definition(channel))
    except IntegrityError:
        raise Conflict(
            f"A channel named {clean['name']!r} exists already.", code="duplicate_name"
        ) from None
    return to_json(channel)


def channel_update(*, actor, name: str, data, request=None) -> dict:
    require_schema_access(actor)
    with transaction.atomic():
        channel = _get(name)
        before = _definition(channel)
        clean = _clean(data, partial=True)
        for key, value in clean.items():
            setattr(channel, key, value)
        try:
            with transaction.atomic():
                channel.save()
        except IntegrityError:
            raise Conflict(
                f"A channel named {clean.get('name')!r} exists already.",
                code="duplicate_name",
            ) from None
        _audit(actor, request, channel, before, _definition(channel))
    return to_json(channel)


def channel_delete(*, actor, name: str, request=None) -> None:
    require_schema_access(actor)
    with transaction.atomic():
        channel = _get(name)
        _audit(actor, request, channel, _definition(channel), None)
        channel.delete()


# --- the schema document ---------------------------------------------------------------


def export_channels() -> list[dict]:
    return [_definition(c) for c in Channel.objects.all()]


def import_channels(*, actor, entries, request=None) -> list[dict]:
    """Create or update each listed channel (by name); others are untouched."""
    if not isinstance(entries, list) or len(entries) > MAX_CHANNELS:
        raise InvalidInput(
            f"`channels` must be a list of at most {MAX_CHANNELS} channels.",
            param="channels",
        )
    changes = []
    for index, entry in enumerate(entries):
        clean = _clean(entry, partial=False, param_prefix=f"channels.{index}.")
        existing = Channel.objects.filter(name=clean["name"]).first()
        if existing is None:
            channel = Channel.objects.create(**clean)
            _audit(actor, request, channel, None, _definition(channel))
            changes.append({"channel": clean["name"], "action": "create"})
            continue
        before = _definition(existing)
        for key, value in clean.items():
            setattr(existing, key, value)
        existing.save()
        _audit(actor, request, existing, before, _definition(existing))
        changes.append({"channel": clean["name"], "action": "update"})
    return changes


# --- use -------------------------------------------------------------------------------


def match(name: str) -> Channel | None:
    """The configuration of a channel: its exact name, else the longest matching
    prefix pattern (`room-*`), else `*`."""
    best = None
    for channel in Channel.objects.all():
        pattern = channel.name
        if pattern == name:
            return channel
        if pattern.endswith("*") and name.startswith(pattern[:-1]):
            if best is None or len(pattern) > len(best.name):
                best = channel
    return best


def allowed(channel: Channel, actor, action: str, name: str) -> bool:
    """Whether `actor` may `action` ("subscribe" or "publish") on channel `name`."""
    access = _users_access(actor)
    if access.privileged:
        return True
    access.ctx.channel = name
    text = getattr(channel, f"{action}_rule")
    return compile_text(text, ChannelResolver(access), access.ctx) is True
