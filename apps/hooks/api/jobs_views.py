"""/api/v1/jobs (recent task runs, retry) and /api/v1/schedules (periodic tasks):
superusers, or API keys with the `jobs` scope."""

from __future__ import annotations

import re

from django.db.models import Q
from django_celery_beat.models import PeriodicTask
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.exceptions import InvalidInput
from apps.core.paging import format_time, newest_first
from apps.hooks import jobs, schedules
from apps.hooks.models import JobRun

TASK_NAME = re.compile(r"[A-Za-z0-9_.:-]{1,200}")
ERROR = {"$ref": "#/components/schemas/Error"}
TIME = {"type": "string", "format": "date-time", "nullable": True}
JOB = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "task": {"type": "string"},
        "state": {"type": "string", "enum": list(JobRun.STATES)},
        "attempts": {"type": "integer"},
        "queued_at": {"type": "string", "format": "date-time"},
        "started_at": TIME,
        "finished_at": TIME,
        "next_attempt_at": TIME,
        "error": {"type": "string", "nullable": True},
        "retry_of": {"type": "string", "nullable": True},
    },
}
JOB_DETAIL = {
    "allOf": [
        JOB,
        {
            "type": "object",
            "properties": {"args": {"type": "array"}, "kwargs": {"type": "object"}},
        },
    ]
}
SCHEDULE = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "name": {"type": "string"},
        "task": {"type": "string"},
        "cron": {"type": "string", "nullable": True, "description": "UTC, 5 fields."},
        "every": {"type": "integer", "nullable": True, "description": "Seconds."},
        "args": {"type": "array"},
        "kwargs": {"type": "object"},
        "enabled": {"type": "boolean"},
        "source": {"type": "string", "enum": ["system", "code", "api"]},
        "last_run_at": TIME,
        "total_run_count": {"type": "integer"},
    },
}
SCHEDULE_INPUT = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 200},
        "task": {"type": "string"},
        "cron": {"type": "string"},
        "every": {"type": "integer", "minimum": 1},
        "args": {"type": "array"},
        "kwargs": {"type": "object"},
        "enabled": {"type": "boolean"},
    },
    "additionalProperties": False,
}


def _page(item: dict) -> dict:
    return {
        "type": "object",
        "properties": {
            "items": {"type": "array", "items": item},
            "next_cursor": {"type": "string", "nullable": True},
        },
    }


def _errors(*statuses: int) -> dict:
    text = {
        400: "A bad parameter.",
        401: "No credentials.",
        403: "Superusers or keys with the `jobs` scope.",
        404: "No such item.",
        409: "Not allowed for this item.",
    }
    return {s: OpenApiResponse(response=ERROR, description=text[s]) for s in statuses}


def _time(value) -> str | None:
    return format_time(value) if value else None


def render_job(run: JobRun, *, detail: bool = False) -> dict:
    body = {
        "id": run.pk,
        "task": run.task,
        "state": run.state,
        "attempts": run.attempts,
        "queued_at": format_time(run.queued_at),
        "started_at": _time(run.started_at),
        "finished_at": _time(run.finished_at),
        "next_attempt_at": _time(run.next_attempt_at),
        "error": run.error or None,
        "retry_of": run.retry_of or None,
    }
    if detail:
        body.update(args=run.args, kwargs=run.kwargs)
    return body


class JobsPermission:
    required_scope = "jobs"


class JobListView(JobsPermission, APIView):
    @extend_schema(
        operation_id="jobs_list",
        summary="Recent runs of background tasks, newest first",
        tags=["jobs"],
        parameters=[
            OpenApiParameter("state", str, enum=list(JobRun.STATES)),
            OpenApiParameter(
                "task", str, description="A task name, or a prefix `x.*`."
            ),
            OpenApiParameter("limit", int),
            OpenApiParameter("cursor", str),
        ],
        responses={200: OpenApiResponse(_page(JOB)), **_errors(400, 401, 403)},
    )
    def get(self, request):
        params = request.query_params
        runs = JobRun.objects.all()
        state = params.get("state")
        if state:
            if state not in JobRun.STATES:
                raise InvalidInput(
                    f"state is one of {', '.join(JobRun.STATES)}.", param="state"
                )
            runs = runs.filter(state=state)
        task = params.get("task")
        if task:
            prefix = task.endswith(".*")
            name = task[:-2] if prefix else task
            if not TASK_NAME.fullmatch(name):
                raise InvalidInput("task is a task name or `prefix.*`.", param="task")
            runs = runs.filter(
                Q(task__startswith=name + ".") if prefix else Q(task=name)
            )
        rows, cursor = newest_first(runs, "queued_at", params)
        return Response({"items": [render_job(r) for r in rows], "next_cursor": cursor})


class JobView(JobsPermission, APIView):
    @extend_schema(
        operation_id="jobs_get",
        summary="One run, with its arguments",
        tags=["jobs"],
        responses={200: OpenApiResponse(JOB_DETAIL), **_errors(401, 403, 404)},
    )
    def get(self, request, job_id: str):
        return Response(render_job(jobs.get_run(job_id), detail=True))


class JobRetryView(JobsPermission, APIView):
    @extend_schema(
        operation_id="jobs_retry",
        summary="Run a finished job's task again with the same arguments",
        tags=["jobs"],
        request=None,
        responses={202: OpenApiResponse(JOB), **_errors(401, 403, 404, 409)},
    )
    def post(self, request, job_id: str):
        run = jobs.get_run(job_id)
        new_id = jobs.retry_run(run, actor=request.user, request=request)
        new = JobRun.objects.filter(pk=new_id).first()
        body = render_job(new) if new else {"id": new_id, "retry_of": run.pk}
        return Response(body, status=202)


class ScheduleListView(JobsPermission, APIView):
    @extend_schema(
        operation_id="schedules_list",
        summary="Periodic tasks: the server's, hooks modules' @cron, and added ones",
        tags=["jobs"],
        responses={
            200: OpenApiResponse(
                {
                    "type": "object",
                    "properties": {"items": {"type": "array", "items": SCHEDULE}},
                }
            ),
            **_errors(401, 403),
        },
    )
    def get(self, request):
        tasks = PeriodicTask.objects.select_related("crontab", "interval").order_by(
            "name"
        )
        return Response({"items": [schedules.render(t) for t in tasks]})

    @extend_schema(
        operation_id="schedules_create",
        summary="Schedule a registered task (cron or every N seconds)",
        tags=["jobs"],
        request={"application/json": SCHEDULE_INPUT},
        responses={201: OpenApiResponse(SCHEDULE), **_errors(400, 401, 403, 409)},
    )
    def post(self, request):
        task = schedules.apply_changes(
            PeriodicTask(),
            request.data,
            creating=True,
            actor=request.user,
            request=request,
        )
        return Response(schedules.render(task), status=201)


class ScheduleView(JobsPermission, APIView):
    @extend_schema(
        operation_id="schedules_get",
        summary="One schedule",
        tags=["jobs"],
        responses={200: OpenApiResponse(SCHEDULE), **_errors(401, 403, 404)},
    )
    def get(self, request, schedule_id: str):
        return Response(schedules.render(schedules.get(schedule_id)))

    @extend_schema(
        operation_id="schedules_update",
        summary="Change a schedule (a hooks module's: its timing and enabled only)",
        tags=["jobs"],
        request={"application/json": SCHEDULE_INPUT},
        responses={200: OpenApiResponse(SCHEDULE), **_errors(400, 401, 403, 404, 409)},
    )
    def patch(self, request, schedule_id: str):
        task = schedules.apply_changes(
            schedules.get(schedule_id),
            request.data,
            creating=False,
            actor=request.user,
            request=request,
        )
        return Response(schedules.render(task))

    @extend_schema(
        operation_id="schedules_delete",
        summary="Delete a schedule added through the API",
        tags=["jobs"],
        responses={204: None, **_errors(401, 403, 404, 409)},
    )
    def delete(self, request, schedule_id: str):
        schedules.delete(
            schedules.get(schedule_id), actor=request.user, request=request
        )
        return Response(status=204)
