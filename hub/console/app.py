"""The console as an application of its own, mounted by the hub's API at ``/console``.

Owns sign-in and sign-out, who is signed in on each request, role checks and CSRF checks, and
its error pages; the pages themselves are in ``hub.console.pages``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from hub.audit import record
from hub.bootstrap import Hub
from hub.console import sessions
from hub.console.masking import mask
from hub.console.users import Permission, User, authenticate

HERE = Path(__file__).parent
MOUNT = "/console"


@dataclass(frozen=True)
class Visitor:
    user: User
    csrf_token: str


class NotSignedIn(Exception):
    pass


class Refused(Exception):
    """A signed-in user asked for something their role does not allow, or without a valid CSRF token."""

    def __init__(self, detail: str, rule: str):
        super().__init__(detail)
        self.detail = detail
        self.rule = rule


class Console:
    """What every page needs: the hub, the templates, and who is asking."""

    def __init__(self, hub: Hub):
        self.hub = hub
        self.templates = Jinja2Templates(directory=str(HERE / "templates"))
        self.templates.env.filters["mask"] = mask
        self.templates.env.filters["when"] = _when
        self.templates.env.globals["root"] = MOUNT

    def page(self, request: Request, template: str, visitor: Visitor | None, status_code: int = 200,
             **context: Any) -> HTMLResponse:
        return self.templates.TemplateResponse(
            request, template, {"visitor": visitor, "Permission": Permission, **context},
            status_code=status_code,
        )

    async def visitor(self, request: Request) -> Visitor:
        token = request.cookies.get(sessions.COOKIE)

        def work() -> Visitor | None:
            with self.hub.database.read() as session:
                signed = sessions.lookup(session, token)
            if signed is None:
                return None
            if signed.user is None or signed.stale:
                with self.hub.database.transaction() as session:
                    if signed.user is None:
                        sessions.end(session, token)
                    else:
                        sessions.touch(session, token)
            return Visitor(signed.user, signed.csrf_token) if signed.user else None

        found = await run_in_threadpool(work)
        if found is None:
            raise NotSignedIn()
        return found

    async def acting(self, request: Request, permission: Permission | None = None) -> tuple[Visitor, Any]:
        """The visitor behind a state-changing form, its CSRF token checked, and the form."""
        visitor = await self.visitor(request)
        form = await request.form()
        if not sessions.csrf_matches(visitor.csrf_token, str(form.get("csrf_token") or "")):
            raise Refused("the form's CSRF token is missing or wrong: reload the page and try again",
                          "console.csrf")
        if permission is not None and not visitor.user.may(permission):
            raise Refused(f"a {visitor.user.role_name} may not {permission.value}", "console.role")
        return visitor, form


def _when(value: Any) -> str:
    if value is None:
        return ""
    return value.strftime("%Y-%m-%d %H:%M:%S") if hasattr(value, "strftime") else str(value)


def create_console(hub: Hub) -> FastAPI:
    from hub.console import pages

    app = FastAPI(title="Operations console", docs_url=None, redoc_url=None, openapi_url=None)
    console = Console(hub)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    @app.exception_handler(NotSignedIn)
    async def not_signed_in(request: Request, _error: NotSignedIn) -> Response:
        if request.method != "GET":
            return console.page(request, "error.html", None, 401, title="Signed out",
                                detail="your session has ended: sign in again", rule="console.session")
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"{MOUNT}/login?next={quote(target)}", status_code=303)

    @app.exception_handler(Refused)
    async def refused(request: Request, error: Refused) -> Response:
        return console.page(request, "error.html", None, 403, title="Not allowed", detail=error.detail,
                            rule=error.rule)

    @app.get("/login", response_class=HTMLResponse, include_in_schema=False)
    async def login_form(request: Request, next: str = "") -> Response:  # noqa: A002
        token = secrets.token_urlsafe(32)
        response = console.page(request, "login.html", None, login_csrf=token, next=_safe_next(next),
                                error=None)
        sessions.set_cookie(response, request, sessions.LOGIN_COOKIE, token, 600, MOUNT)
        return response

    @app.post("/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        form = await request.form()
        if not sessions.csrf_matches(request.cookies.get(sessions.LOGIN_COOKIE),
                                     str(form.get("csrf_token") or "")):
            raise Refused("the sign-in form's CSRF token is missing or wrong: reload the page",
                          "console.csrf")
        username, password = str(form.get("username") or ""), str(form.get("password") or "")
        target = _safe_next(str(form.get("next") or ""))

        def work() -> str | None:
            with hub.database.transaction() as session:
                user = authenticate(session, username, password)
                if user is None:
                    record(session, "console.sign-in-failed", "console", None, username=username[:64])
                    return None
                token, _row = sessions.start(session, user)
                record(session, "console.signed-in", user.actor, None, role=user.role.value)
                return token

        token = await run_in_threadpool(work)
        if token is None:
            fresh = secrets.token_urlsafe(32)
            response = console.page(request, "login.html", None, 401, login_csrf=fresh, next=target,
                                    error="unknown user or wrong password")
            sessions.set_cookie(response, request, sessions.LOGIN_COOKIE, fresh, 600, MOUNT)
            return response
        response = RedirectResponse(target or f"{MOUNT}/", status_code=303)
        sessions.set_cookie(response, request, sessions.COOKIE, token, int(sessions.LIFETIME.total_seconds()),
                            MOUNT)
        response.delete_cookie(sessions.LOGIN_COOKIE, path=MOUNT)
        return response

    @app.post("/logout", include_in_schema=False)
    async def logout(request: Request) -> Response:
        visitor, _form = await console.acting(request)
        token = request.cookies.get(sessions.COOKIE)

        def work() -> None:
            with hub.database.transaction() as session:
                sessions.end(session, token)
                record(session, "console.signed-out", visitor.user.actor, None)

        await run_in_threadpool(work)
        response = RedirectResponse(f"{MOUNT}/login", status_code=303)
        response.delete_cookie(sessions.COOKIE, path=MOUNT)
        return response

    pages.add_pages(app, console)
    return app


def _safe_next(target: str) -> str:
    """Only a path inside the console: never an open redirect."""
    if target.startswith(f"{MOUNT}/") and not target.startswith("//") and "\\" not in target:
        return target
    return ""
