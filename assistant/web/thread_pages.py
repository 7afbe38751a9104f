"""The threads: the board of those waiting on the team (the front page, filtered by mailbox
and owner), and one thread's timeline with its buttons (done, snooze, take, assign)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from ..core.commands import CommandError
from ..service.board import board
from ..service.thread_view import act, thread_view
from .accounts import any_account, redirect
from .pages import Denied, Web


class ThreadPages:
    """``/`` and ``/threads/{mailbox}/{thread_id}``."""

    def __init__(self, web: Web) -> None:
        self.web = web

    async def board(self, request: Request) -> Response:
        """The waiting threads (a first visit goes to setup, a logged-out one to the login)."""
        if not await any_account():
            return redirect("/setup")
        try:
            await self.web.user(request)
        except Denied as exc:
            if exc.status == 401:
                return redirect("/login")
            raise
        mailbox = request.query_params.get("mailbox") or None
        owner = request.query_params.get("owner") or None
        shown = await board(self.web.runtime, mailbox, owner)
        return self.web.page(
            request,
            "threads.html",
            rows=shown.rows,
            boxes=shown.boxes,
            owners=shown.owners,
            mailbox=mailbox,
            owner=owner,
        )

    async def thread(self, request: Request) -> Response:
        """The timeline; a POST presses one of its buttons first."""
        user = await self.web.user(request)
        name, thread_id = request.path_params["mailbox"], request.path_params["thread_id"]
        message = error = None
        if request.method == "POST":
            values = await self.web.form(request)
            action, value = values.get("action", ""), values.get("value", "")
            try:
                message = await act(self.web.runtime, user, name, thread_id, action, value)
            except CommandError as exc:
                error = str(exc)
        view = await thread_view(self.web.runtime, user, name, thread_id)
        return self.web.page(
            request,
            "thread.html",
            story=view.story,
            people=view.people,
            may_act=view.may_act,
            message=message,
            error=error,
        )
