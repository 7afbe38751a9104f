"""One registry of mail kinds: the ladder, the template folders, the built-in defaults, the
web page's list and the delivery's groups all agree with :mod:`assistant.core.mail_kinds`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from markupsafe import escape

from assistant.core.ladder import DEFAULT_STEPS, Kind
from assistant.core.mail_kinds import (
    LADDER,
    MAIL_KINDS,
    TEMPLATED,
    TO_CLIENT,
    Audience,
    MailKind,
    spec,
)
from assistant.render import BUILTIN, BUILTIN_ALIASES, PARTS, Renderer, default_templates_dir
from assistant.service import deliver, digest, loops, templates
from tests.test_web_accounts import Site, _serve, setup_admin

#: The strings stored in ``outbox.kind`` and ``template_versions.kind``: never renamed.
STORED = {
    "acknowledge",
    "remind_owner",
    "escalate_backup",
    "escalate_lead",
    "client_update",
    "digest",
    "command_reply",
    "admin_notice",
}


def test_the_stored_values_never_change() -> None:
    assert {kind.value for kind in MailKind} == STORED
    assert set(MAIL_KINDS) == set(MailKind)


def test_the_ladder_kind_is_the_registry_ladder_subset() -> None:
    assert tuple(kind.value for kind in Kind) == LADDER
    assert {step.kind for step in DEFAULT_STEPS} == set(Kind)
    assert all(spec(kind).ladder for kind in Kind)


def test_every_kind_with_a_template_has_its_folder_and_no_folder_lacks_a_kind() -> None:
    root = default_templates_dir()
    folders = {path.name for path in root.iterdir() if path.is_dir()}
    assert folders == set(TEMPLATED)
    for kind in TEMPLATED:
        assert all((root / kind / f"{part}.j2").is_file() for part in PARTS), kind


def test_every_kind_with_a_template_has_a_builtin_and_every_builtin_is_named() -> None:
    named = {spec(kind).builtin for kind in TEMPLATED}
    assert set(BUILTIN) == named
    for kind in TEMPLATED:
        assert BUILTIN_ALIASES.get(kind, kind) in BUILTIN, kind
    assert set(BUILTIN_ALIASES) <= set(TEMPLATED)


@pytest.mark.parametrize("kind", TEMPLATED)
def test_a_broken_template_falls_back_to_the_builtin_of_its_kind(kind: str) -> None:
    broken = ("{{ no_such_variable }}", "", "")
    rendered = Renderer().render(kind, templates.SAMPLE, broken)
    assert rendered.error is not None and rendered.subject


def test_the_readme_names_every_kind_with_a_template() -> None:
    assert templates.KINDS == TEMPLATED
    readme = (Path(__file__).parents[1] / "templates" / "README.md").read_text()
    for kind in TEMPLATED:
        assert f"`{kind}/`" in readme, kind


@pytest.fixture
def site(cli_env: dict[str, str], tmp_path: Path) -> Iterator[Site]:
    yield from _serve(cli_env, tmp_path, "127.0.0.1")


def test_the_web_list_shows_every_kind_with_a_template(site: Site) -> None:
    status, page, _ = setup_admin(site).request("/templates")
    assert status == 200
    for kind in TEMPLATED:
        assert f'href="/templates/{kind}"' in page, kind
        assert str(escape(spec(kind).description)) in page, kind
    assert MailKind.ADMIN_NOTICE not in page  # no template: nothing to edit


def test_the_groups_the_service_uses_are_the_ones_it_always_used() -> None:
    assert loops.CLIENT_KINDS == TO_CLIENT == ("acknowledge", "client_update")
    assert set(deliver.STORED_KINDS) == {"digest", "command_reply", "admin_notice"}
    assert deliver.DIGEST == "digest" and deliver.ADMIN_NOTICE == "admin_notice"
    assert set(digest.ESCALATIONS) == {"remind_owner", "escalate_backup", "escalate_lead"}
    # Plain strings, as the store's queries were always given.
    assert all(type(kind) is str for kind in (*TEMPLATED, *TO_CLIENT, *deliver.STORED_KINDS))


def test_client_mail_is_exactly_the_mail_to_clients() -> None:
    to_client = {kind for kind, about in MAIL_KINDS.items() if about.audience is Audience.CLIENT}
    assert to_client == set(TO_CLIENT)
    assert not MAIL_KINDS[MailKind.ADMIN_NOTICE].has_template
