"""Push topics: who may subscribe their devices to which topic. Topic rules are written
like channel rules (`@request.auth.*`, `@topic.name`, `@now`; `null` = superusers only,
`""` = any signed-in user) and managed by superusers and `schema` keys at
`/api/v1/push/topics`; the entry that applies to a topic is its exact name, else the
longest matching prefix (`news-*`), else `*`. A topic no entry matches: superusers only.
"""

from __future__ import annotations

import re

from django.db import IntegrityError, transaction

from apps.collections.services import require_schema_access
from apps.core.exceptions import Conflict, InvalidInput, NotFound
from apps.hooks import audit
from apps.push.models import Topic
from apps.realtime.channels import ChannelResolver, _users_access
from apps.rules.compiler import RuleError, check, compile_text
from apps.rules.parser import RuleSyntaxError, parse

#: a topic a device subscribes to (FCM's topic alphabet)
TOPIC = re.compile(r"[A-Za-z0-9_.~%-]{1,100}")
#: a topic rule entry: a topic, a prefix (`news-*`) or `*`
PATTERN = re.compile(r"[A-Za-z0-9_.~%-]{1,99}\*?|\*")
MAX_TOPICS = 500
FIELDS = frozenset({"name", "rule", "created", "updated"})


class TopicResolver(ChannelResolver):
    """Topic rules name no fields: `@request.auth.*`, `@topic.name` and `@now`."""

    def check_macro(self, macro) -> None:
        if macro.source == "channel":
            raise RuleError("@channel.name exists in channel rules only", macro.pos)
        if macro.source == "topic":
            return
        super().check_macro(macro)


def _time(value) -> str:
    return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def to_json(topic: Topic) -> dict:
    return {
        "name": topic.name,
        "rule": topic.subscribe_rule,
        "created": _time(topic.created),
        "updated": _time(topic.updated),
    }


def _definition(topic: Topic) -> dict:
    return {"name": topic.name, "rule": topic.subscribe_rule}


def _audit(actor, request, topic: Topic, before, after) -> None:
    if before == after:
        return
    action = (
        "push.topic.create"
        if before is None
        else "push.topic.delete"
        if after is None
        else "push.topic.rule"
    )
    audit.record(
        actor=actor,
        action=action,
        target=audit.Target("push_topic", str(topic.pk), topic.name),
        before=before,
        after=after,
        request=request,
    )


def _clean(data, *, partial: bool) -> dict:
    if not isinstance(data, dict):
        raise InvalidInput("A topic is a JSON object.", code="invalid_type")
    unknown = sorted(set(data) - FIELDS)
    if unknown:
        raise InvalidInput(f"Unknown topic property {unknown[0]!r}.", param=unknown[0])
    clean: dict = {}
    if "name" in data or not partial:
        name = data.get("name")
        if not isinstance(name, str) or not PATTERN.fullmatch(name):
            raise InvalidInput(
                "A topic name is 1-99 letters, digits or _.~%- and may end with * "
                "(a prefix), or is * alone.",
                code="invalid_name",
                param="name",
            )
        clean["name"] = name
    if "rule" in data or not partial:
        text = data.get("rule")
        if text is not None and not isinstance(text, str):
            raise InvalidInput("A rule is text or null.", param="rule")
        if text:
            try:
                check(parse(text), TopicResolver(_users_access(None)))
            except RuleSyntaxError as exc:
                raise InvalidInput(
                    f"Invalid expression: {exc}", code="invalid_rule", param="rule"
                ) from None
        clean["subscribe_rule"] = text
    return clean


def _get(name) -> Topic:
    topic = Topic.objects.filter(name=name).first() if isinstance(name, str) else None
    if topic is None:
        raise NotFound(f"No topic rule named {name!r}.", code="topic_not_found")
    return topic


def topic_list(*, actor) -> list[dict]:
    require_schema_access(actor)
    return [to_json(t) for t in Topic.objects.order_by("name")]


def topic_get(*, actor, name: str) -> dict:
    require_schema_access(actor)
    return to_json(_get(name))


def topic_create(*, actor, data, request=None) -> dict:
    require_schema_access(actor)
    clean = _clean(data, partial=False)
    if Topic.objects.count() >= MAX_TOPICS:
        raise InvalidInput(f"At most {MAX_TOPICS} topic rules.", code="too_many")
    try:
        with transaction.atomic():
            topic = Topic.objects.create(**clean)
            _audit(actor, request, topic, None, _definition(topic))
    except IntegrityError:
        raise Conflict(
            f"A topic rule named {clean['name']!r} exists already.",
            code="duplicate_name",
        ) from None
    return to_json(topic)


def topic_update(*, actor, name: str, data, request=None) -> dict:
    require_schema_access(actor)
    with transaction.atomic():
        topic = _get(name)
        before = _definition(topic)
        for key, value in _clean(data, partial=True).items():
            setattr(topic, key, value)
        try:
            with transaction.atomic():
                topic.save()
        except IntegrityError:
            raise Conflict(
                f"A topic rule named {topic.name!r} exists already.",
                code="duplicate_name",
            ) from None
        _audit(actor, request, topic, before, _definition(topic))
    return to_json(topic)


def topic_delete(*, actor, name: str, request=None) -> None:
    require_schema_access(actor)
    with transaction.atomic():
        topic = _get(name)
        _audit(actor, request, topic, _definition(topic), None)
        topic.delete()


def match(name: str) -> Topic | None:
    """The entry that applies to topic `name`: exact, longest prefix, else `*`."""
    best = None
    for topic in Topic.objects.all():
        pattern = topic.name
        if pattern == name:
            return topic
        if pattern.endswith("*") and name.startswith(pattern[:-1]):
            if best is None or len(pattern) > len(best.name):
                best = topic
    return best


def may_subscribe(actor, name: str) -> bool:
    """Whether `actor` may subscribe devices to topic `name`."""
    access = _users_access(actor)
    if access.privileged:
        return True
    topic = match(name)
    if topic is None:
        return False
    access.ctx.topic = name
    return compile_text(topic.subscribe_rule, TopicResolver(access), access.ctx) is True
