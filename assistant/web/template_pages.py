"""The mail templates (admins only): the list of kinds, the editor of one kind (for every
mailbox or ``?mailbox=NAME``'s own version) with its buttons, and its live preview."""

from __future__ import annotations

from dataclasses import fields
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response

from ..service.template_editor import Edit, Editor, Sources, kind_list, open_editor
from .pages import PAGES, Web


class TemplatePages:
    """``/templates``, ``/templates/{kind}`` and ``/templates/{kind}/preview``."""

    def __init__(self, web: Web) -> None:
        self.web = web

    async def kinds(self, request: Request) -> Response:
        await self.web.user(request, "admin")
        return self.web.page(request, "templates.html", kinds=await kind_list())

    async def edit(self, request: Request) -> Response:
        """The editor; a POST presses one of its buttons first."""
        user = await self.web.user(request, "admin")
        editor = await self._editor(request)
        thread = request.query_params.get("thread")
        if request.method == "POST":
            edit = await _press(editor, await self.web.form(request), user.email, thread)
        else:
            edit = await editor.current()
        view = await editor.view(edit, thread)
        query = ("?mailbox=" + quote(view.scope.name, safe="")) if view.scope else ""
        shown = {f.name: getattr(view, f.name) for f in fields(view)}  # (asdict would copy rows)
        return self.web.page(request, "template_edit.html", **shown, query=query)

    async def preview(self, request: Request) -> Response:
        """The preview fragment for what is in the editor now (the page's live preview)."""
        await self.web.user(request, "admin")
        editor = await self._editor(request)
        values = await self.web.form(request)
        preview, problems = await editor.preview(_sources(values), values.get("thread"))
        return PAGES.TemplateResponse(
            request, "preview.html", {"preview": preview, "problems": problems}
        )

    async def _editor(self, request: Request) -> Editor:
        kind, mailbox = request.path_params["kind"], request.query_params.get("mailbox")
        return await open_editor(self.web.runtime, kind, mailbox)


async def _press(editor: Editor, values: dict[str, str], author: str, thread: str | None) -> Edit:
    """The button pressed: roll back, send a test to oneself, or check and save."""
    if values.get("rollback"):
        return await editor.rollback(values["rollback"], author)
    if values.get("test"):
        return await editor.send_test(author, thread)
    return await editor.save(_sources(values), author)


def _sources(values: dict[str, str]) -> Sources:
    return (values.get("subject", ""), values.get("text", ""), values.get("html", ""))
