"""Bulk inserts from plain dicts and bulk reads into them: tortoise's own SQL, no model objects.

``Model.bulk_create`` builds a model instance per row (``__init__`` + ``__setattr__`` for every
field), which was half the time of storing a first sync. The SQL (with the dialect's
placeholders and ``ON CONFLICT DO NOTHING``) still comes from tortoise's executor and each
value still goes through the field's ``to_db_value``, so what lands in the table is what
``bulk_create`` would have written.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from tortoise.fields import (
    BigIntField,
    BooleanField,
    CharField,
    DatetimeField,
    Field,
    IntField,
    JSONField,
    TextField,
)
from tortoise.models import Model


def _converter(field: Field[Any], model: type[Model]) -> Callable[[Any], Any]:
    """The field's ``to_db_value``; JSON lists and dicts go straight to its encoder (the
    same call ``to_db_value`` ends in, without re-validating what we built ourselves)."""
    if isinstance(field, JSONField):
        encode = field.encoder

        def json_value(value: Any) -> Any:
            if isinstance(value, list | dict):
                return encode(value)
            return field.to_db_value(value, model)

        return json_value
    if isinstance(field, CharField):
        limit, name = field.max_length, f"{model.__name__}.{field.model_field_name}"

        def text(value: Any) -> Any:
            if isinstance(value, str) and len(value) > limit:
                raise ValueError(f"{name}: {len(value)} characters, at most {limit}")
            return value

        return text
    if type(field) in _PLAIN:
        return _same
    return functools.partial(field.to_db_value, instance=model)


def _same(value: Any) -> Any:
    return value


#: Field types whose database value is the Python value (ints, text, booleans).
_PLAIN = (IntField, BigIntField, TextField, BooleanField)


async def insert_rows(
    model: type[Model],
    rows: Sequence[dict[str, Any]],
    *,
    ignore_conflicts: bool = False,
    batch: int = 1000,
) -> None:
    """INSERT ``rows`` (dicts keyed by field name; foreign keys as ``<name>_id``)."""
    if not rows:
        return
    meta = model._meta
    db = meta.db
    executor = db.executor_class(model=model, db=db)
    columns = list(executor.regular_columns)
    unknown = set(rows[0]) - set(columns)
    if unknown:
        raise ValueError(f"{model.__name__}: unknown or generated fields {sorted(unknown)}")
    sql = executor._prepare_insert_statement(
        [meta.fields_db_projection[c] for c in columns], ignore_conflicts=ignore_conflicts
    ).get_sql()
    convert = [_converter(meta.fields_map[c], model) for c in columns]
    fill = [_default(model, meta.fields_map[c]) for c in columns]
    for start in range(0, len(rows), batch):
        values = [
            [f(row[c] if c in row else d()) for f, d, c in zip(convert, fill, columns, strict=True)]
            for row in rows[start : start + batch]
        ]
        await db.execute_many(sql, values)


def _default(model: type[Model], field: Field[Any]) -> Callable[[], Any]:
    """What the ORM would put in a column the row leaves out (its default, else NULL)."""
    default = field.default
    if callable(default):
        return default  # type: ignore[no-any-return]
    if default is not None or field.null:
        return lambda: default
    name = f"{model.__name__}.{field.model_field_name}"

    def required() -> Any:
        raise ValueError(f"{name} has no default: every row must give it")

    return required


def _reader(field: Field[Any]) -> Callable[[Any], Any]:
    """A fast raw-value-to-Python conversion for the column types we read in bulk."""
    if isinstance(field, JSONField):
        decode = field.decoder
        return lambda v: decode(v) if isinstance(v, str | bytes) else v
    if isinstance(field, DatetimeField):

        def when(v: Any) -> Any:
            if isinstance(v, str):
                v = datetime.fromisoformat(v)
            if isinstance(v, datetime) and v.tzinfo is None:
                return v.replace(tzinfo=UTC)
            return v

        return when
    if isinstance(field, BooleanField):
        return lambda v: None if v is None else bool(v)
    return field.to_python_value


async def select_rows(
    model: type[Model], columns: Sequence[str], where: str, value: Any
) -> Iterator[dict[str, Any]]:
    """``SELECT columns FROM table WHERE <where> = value`` as dicts of Python values.

    ``QuerySet.values()`` converts every value through the field (one call per cell); a
    whole-mailbox read at first sync is 20,000+ rows of JSON lists, so this reads raw rows
    and converts each column with one bound function, one row at a time as the caller
    iterates (the raw rows are smaller than the converted ones).
    """
    meta = model._meta
    db = meta.db
    mark = "?" if db.capabilities.dialect == "sqlite" else "$1"
    names = [meta.fields_db_projection[c] for c in columns]
    quote = '"' if db.capabilities.dialect != "mysql" else "`"
    sql = (
        f"SELECT {', '.join(quote + n + quote for n in names)} FROM {quote}{meta.db_table}{quote}"
        f" WHERE {quote}{meta.fields_db_projection[where]}{quote}={mark}"
    )
    readers = [_reader(meta.fields_map[c]) for c in columns]
    _, raw = await db.execute_query(sql, [value])
    pairs = list(zip(columns, readers, strict=True))
    raw = list(raw)
    raw.reverse()

    def convert() -> Iterator[dict[str, Any]]:
        while raw:
            row = raw.pop()  # drop each raw row once converted
            yield {c: read(row[i]) for i, (c, read) in enumerate(pairs)}

    return convert()
