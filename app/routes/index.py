"""``/`` (the seed proxy's front page) and ``/tasks``."""

from __future__ import annotations

import html

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from app import __version__, handlers
from app.openapi import Operation, json_content
from app.responses import JSONResponse
from app.state import state_of

EXAMPLES = {"spin": "?n=1000", "primes": "?limit=100000", "noop": ""}


async def index(request: Request) -> Response:
    state = state_of(request)
    settings = state.settings
    links = [f'<li><a href="/{name}">/{name}</a> (microservice)</li>' for name in settings.services]
    for name in sorted(state.pool.specs):
        spec = state.pool.specs[name]
        doc = html.escape(spec.doc)
        if spec.options.body:  # POST only: a link would answer 405
            body = html.escape(", ".join(spec.options.body))
            links.append(f"<li><code>POST</code> /work/{html.escape(name)} ({body}) {doc}</li>")
            continue
        href = f"/work/{name}{EXAMPLES.get(name, '')}"
        links.append(f'<li><a href="{html.escape(href)}">{html.escape(href)}</a> {doc}</li>')
    for entry in handlers.registered():
        shown = html.escape(entry.path)
        verbs = html.escape(", ".join(entry.methods))
        links.append(f"<li><code>{verbs}</code> {shown} {html.escape(entry.summary)}</li>")
    for path, what in (
        ("/tasks", "every task and its parameters"),
        ("/metrics", "Prometheus metrics"),
        ("/openapi.json", "OpenAPI schema"),
        ("/healthz", "liveness"),
        ("/readyz", "readiness"),
    ):
        links.append(f'<li><a href="{path}">{path}</a> {what}</li>')
    page = (
        "<!doctype html><html><head><meta charset=utf-8><title>crunch</title></head><body>"
        f"<h1>crunch {__version__}</h1>"
        f"<p>pod <code>{html.escape(settings.pod_name)}</code>, "
        f"{state.pool.size} workers, {state.pool.busy} busy, {state.pool.queued} queued.</p>"
        f"<ul>{''.join(links)}</ul>"
        "<p><code>POST /batch</code> runs a list of tasks; "
        "<code>POST /spawn/{name}</code> runs an allowlisted program "
        f"({html.escape(', '.join(sorted(state.spawner.programs)) or 'none')}).</p>"
        "</body></html>"
    )
    return HTMLResponse(page)


async def tasks(request: Request) -> Response:
    state = state_of(request)
    return JSONResponse(
        {
            "tasks": [spec.describe() for _, spec in sorted(state.pool.specs.items())],
            "limits": {
                "task_timeout_s": state.settings.task_timeout,
                "queue_limit": state.settings.queue_limit,
                "workers": state.pool.size,
                "batch_limit": state.settings.max_batch,
                "max_body_bytes": state.settings.max_body,
            },
        }
    )


INDEX: dict[str, Operation] = {
    "get": {
        "summary": "Index page: links to the services and tasks",
        "responses": {
            "200": {"description": "HTML", "content": {"text/html": {"schema": {"type": "string"}}}}
        },
    }
}

_NUMBER = {"type": "number", "minimum": 0}
TASKS: dict[str, Operation] = {
    "get": {
        "summary": "Every registered task, its parameters and the limits",
        "responses": {
            "200": {
                "description": "Tasks and limits",
                "content": json_content(
                    {
                        "type": "object",
                        "required": ["tasks", "limits"],
                        "properties": {
                            "tasks": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "required": ["name", "doc", "params"],
                                    "properties": {
                                        "name": {"type": "string"},
                                        "doc": {"type": "string"},
                                        "params": {"type": "array", "items": {"type": "object"}},
                                        "timeout_s": {"type": "number", "minimum": 0},
                                        "cost_class": {
                                            "type": "string",
                                            "enum": ["tiny", "small", "medium", "large"],
                                        },
                                        "body": {"type": "array", "items": {"type": "string"}},
                                    },
                                },
                            },
                            "limits": {
                                "type": "object",
                                "properties": {
                                    "task_timeout_s": _NUMBER,
                                    "queue_limit": _NUMBER,
                                    "workers": _NUMBER,
                                    "batch_limit": _NUMBER,
                                    "max_body_bytes": _NUMBER,
                                },
                            },
                        },
                    }
                ),
            }
        },
    }
}
