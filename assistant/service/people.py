"""The team's people in the store: add, change, list, remove; and as the core's records.

People in the store are the truth for the running service; ``[[people]]`` in the settings
file still work (``followup replay`` has no store) and the store's entry wins for the same
address (:func:`roster` is that one list, for the service and ``followup people list``).
Every change is checked before it is written: a time zone that does not exist, a digest time
that is not HH:MM, working days that are not days, a backup who is not a person, or someone
being their own backup is refused with a message naming the value.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from datetime import datetime
from typing import Any

from ..core.addresses import normalise_email
from ..core.digest import DigestError, digest_time, person_zone, working_days
from ..core.errors import UsageError
from ..core.ownership import Person as CorePerson
from ..settings import FollowupConfig, people_of
from ..store.models import Person

EDITABLE = (
    "name",
    "timezone",
    "working_days",
    "digest_at",
    "backup",
    "away",
    "lead",
    "digest_paused",
)


class PeopleError(UsageError, ValueError):
    """A change to the team that cannot be made; the message says why."""


def to_core(row: Person) -> CorePerson:
    """The core's view of a stored person (the core record's fields are the columns)."""
    return CorePerson(**{f.name: getattr(row, f.name) for f in fields(CorePerson)})


async def store_copy(person: CorePerson, at: datetime, **changes: Any) -> Person:
    """Store a person known only from the settings file (the store's entry then wins)."""
    return await Person.create(**{**asdict(person), **changes}, created_at=at)


async def load_people() -> dict[str, CorePerson]:
    """Every stored person by address."""
    return {row.email: to_core(row) for row in await Person.all().order_by("email")}


@dataclass(frozen=True, slots=True)
class Member:
    """A person the service counts, and where they are written."""

    person: CorePerson
    #: ``"store"`` (``followup people add``, the web page) or ``"settings"`` (the file's
    #: ``[[people]]``); the store's entry wins for the same address.
    source: str


async def roster(config: FollowupConfig) -> list[Member]:
    """Everyone the service counts as a person: the settings file's people, overridden and
    extended by the store's, each marked by where it comes from (the file's order, then the
    store's newcomers by address)."""
    members = {email: Member(p, "settings") for email, p in people_of(config).items()}
    members.update({email: Member(p, "store") for email, p in (await load_people()).items()})
    return list(members.values())


async def everyone(config: FollowupConfig) -> dict[str, CorePerson]:
    """The people of :func:`roster`, by address."""
    return {m.person.email: m.person for m in await roster(config)}


def _address(value: str) -> str:
    email = normalise_email(value.strip().strip("<>"))
    local, _, domain = email.partition("@")
    if not local or "." not in domain:
        raise PeopleError(f"{value!r} is not an email address")
    return email


async def _check(email: str, values: dict[str, Any]) -> dict[str, Any]:
    probe = CorePerson(email)
    try:
        if values.get("timezone") is not None:
            person_zone(replace(probe, timezone=values["timezone"]))
        if values.get("working_days") is not None:
            working_days(values["working_days"])
        if values.get("digest_at") is not None:
            values["digest_at"] = digest_time(values["digest_at"]).strftime("%H:%M")
    except DigestError as exc:
        raise PeopleError(str(exc)) from None
    backup = values.get("backup")
    if backup:
        backup = values["backup"] = _address(backup)
        if backup == email:
            raise PeopleError(f"{email} cannot be their own backup")
        if not await Person.exists(email=backup):
            raise PeopleError(f"backup {backup} is not a person yet: add them first")
    return values


async def add_person(email: str, *, at: datetime, **values: Any) -> Person:
    """Add a team member (``at``: when, from the caller's clock); refuse a duplicate."""
    address = _address(email)
    if await Person.exists(email=address):
        raise PeopleError(f"{address} is already a person (change them with `people set`)")
    fields = await _check(address, {k: v for k, v in values.items() if v is not None})
    return await Person.create(email=address, created_at=at, **fields)


async def set_person(email: str, **values: Any) -> Person:
    """Change some of a person's settings (``None`` leaves a setting as it is)."""
    address = _address(email)
    row = await Person.get_or_none(email=address)
    if row is None:
        raise PeopleError(f"{address} is not a person (add them with `people add`)")
    unknown = set(values) - set(EDITABLE)
    if unknown:
        raise PeopleError(f"unknown settings: {', '.join(sorted(unknown))}")
    fields = await _check(address, {k: v for k, v in values.items() if v is not None})
    if fields.get("backup") == "":
        fields["backup"] = None
    row.update_from_dict(fields)
    await row.save()
    return row


async def remove_person(email: str) -> None:
    """Remove a person; refuse while someone names them as backup."""
    address = _address(email)
    row = await Person.get_or_none(email=address)
    if row is None:
        raise PeopleError(f"{address} is not a person")
    backs = await Person.filter(backup=address).values_list("email", flat=True)
    if backs:
        raise PeopleError(
            f"{address} is the backup of {', '.join(map(str, backs))}: change that first"
        )
    await row.delete()
