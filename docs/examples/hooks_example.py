"""A hooks module to copy: put it in <data dir>/hooks/ (or name it in BAAS_HOOKS).

It assumes a `posts` collection with `title` (text), `body` (text), `owner` (relation to
users) and `published` (bool). docs/hooks.md walks through it.
"""

from __future__ import annotations

from typing import TypedDict

from django.core.mail import send_mail

from baas import records
from baas.hooks import Reject, after, before, cron, route

BANNED = ("casino", "crypto giveaway")


@before("create", "posts")
def validate_post(event):
    """Refuse spam, tidy the title, and make the author the owner (inside the write's
    transaction: a Reject rolls everything back and the client gets a 400)."""
    title = (event.data.get("title") or "").strip()
    if any(word in title.lower() for word in BANNED):
        raise Reject("spam", "This title looks like spam.", param="title")
    event.data["title"] = title
    if event.auth is not None and event.auth.id:
        event.data["owner"] = event.auth.id  # even though clients may not set it


@after("update", "posts")
def mail_when_published(event):
    """On a worker, after the commit: tell the owner their post went live (retried
    with backoff if it raises; the change token makes a retry recognisable)."""
    was, now = (event.old or {}).get("published"), (event.data or {}).get("published")
    if now and not was and event.data.get("owner"):
        owner = records.get("users", event.data["owner"])
        send_mail(
            subject=f"Your post {event.data['title']!r} is live",
            message="Thanks for writing it.",
            from_email=None,
            recipient_list=[owner["email"]],
        )


class Stats(TypedDict):
    posts: int
    published: int


@route("GET", "/stats", auth="user", rate="60/m/user")
def stats(request) -> Stats:
    """Counts of the caller's posts (the collection's rules apply: `as_user`)."""
    mine = records.list(
        "posts", filter="owner = @request.auth.id", count=True, as_user=request.user
    )
    live = records.list(
        "posts",
        filter="owner = @request.auth.id && published = true",
        count=True,
        as_user=request.user,
    )
    return {"posts": mine["total"], "published": live["total"]}


@cron("0 3 * * *", name="unpublish-empty-posts")
def unpublish_empty_posts():
    """Every night at 03:00 UTC: take down published posts with an empty body."""
    page = records.list("posts", filter="published = true && body = ''", limit=200)
    for post in page["items"]:
        records.update("posts", post["id"], {"published": False})
