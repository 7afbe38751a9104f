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


def insert_columns(model: type[Model]) -> tuple[str, ...]:
    """The columns an INSERT of ``model`` gives (every field but generated ones), in the
    order :func:`row_values` and :func:`insert_values` use."""
    db = model._meta.db
    return tuple(db.executor_class(model=model, db=db).regular_columns)


@functools.lru_cache(maxsize=32)
def _row_converter(
    model: type[Model], columns: tuple[str, ...]
) -> Callable[[dict[str, Any]], list[Any]]:
    fields = model._meta.fields_map
    steps = [(c, _converter(fields[c], model), _default(model, fields[c])) for c in columns]

    def values(row: dict[str, Any]) -> list[Any]:
        return [convert(row[c] if c in row else fill()) for c, convert, fill in steps]

    return values


def row_values(
    model: type[Model], columns: tuple[str, ...], rows: Sequence[dict[str, Any]]
) -> list[list[Any]]:
    """Database values of ``rows`` for ``columns``: pure (no connection needed), so a worker
    process can convert rows that this process then inserts with :func:`insert_values`."""
    if not rows:
        return []
    unknown = set(rows[0]) - set(columns)
    if unknown:
        raise ValueError(f"{model.__name__}: unknown or generated fields {sorted(unknown)}")
    values = _row_converter(model, columns)
    return [values(row) for row in rows]


async def insert_values(
    model: type[Model],
    columns: tuple[str, ...],
    values: Sequence[list[Any]],
    *,
    ignore_conflicts: bool = False,
    batch: int = 1000,
) -> None:
    """INSERT rows already converted by :func:`row_values` for the same ``columns``."""
    if not values:
        return
    meta = model._meta
    db = meta.db
    executor = db.executor_class(model=model, db=db)
    sql = executor._prepare_insert_statement(
        [meta.fields_db_projection[c] for c in columns], ignore_conflicts=ignore_conflicts
    ).get_sql()
    for start in range(0, len(values), batch):
        await db.execute_many(sql, list(values[start : start + batch]))


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
    columns = insert_columns(model)
    await insert_values(
        model,
        columns,
        row_values(model, columns, rows),
        ignore_conflicts=ignore_conflicts,
        batch=batch,
    )


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


def _json_reader(decode: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def json(v: Any) -> Any:
        kind = type(v)
        return decode(v) if kind is str or kind is bytes else v

    return json


def _when(v: Any) -> Any:
    """A stored instant as an aware datetime (SQLite hands back text, naive means UTC)."""
    if isinstance(v, str):
        v = datetime.fromisoformat(v)
    if isinstance(v, datetime) and v.tzinfo is None:
        return v.replace(tzinfo=UTC)
    return v


def _flag(v: Any) -> bool | None:
    return None if v is None else bool(v)


def _reader(field: Field[Any]) -> Callable[[Any], Any]:
    """A fast raw-value-to-Python conversion for the column types we read in bulk."""
    if isinstance(field, JSONField):
        return _json_reader(field.decoder)
    if isinstance(field, DatetimeField):
        return _when
    if isinstance(field, BooleanField):
        return _flag
    if isinstance(field, CharField) or type(field) in _PLAIN:
        return _same  # text and integers come back as they went in
    return field.to_python_value


async def select_rows(
    model: type[Model], columns: Sequence[str], where: str, params: Sequence[Any]
) -> Iterator[list[Any]]:
    """``SELECT columns FROM table WHERE <where>``: each row's Python values, in the order of
    ``columns``; ``where`` is SQL with ``?`` placeholders for ``params`` (it may end in
    ORDER BY / LIMIT).

    ``QuerySet.values()`` converts every value through the field (one call per cell) into a
    dict per row; a whole-mailbox read at first sync is 100,000 rows of JSON lists, so this
    reads raw rows and converts only the columns that need it, one row at a time as the
    caller iterates (the raw rows are smaller than the converted ones).
    """
    meta = model._meta
    names = ", ".join(f'"{meta.fields_db_projection[c]}"' for c in columns)
    sql = f'SELECT {names} FROM "{meta.db_table}" WHERE {where}'
    readers = [(i, _reader(meta.fields_map[c])) for i, c in enumerate(columns)]
    converted = [(i, read) for i, read in readers if read is not _same]
    raw = await fetch_all(model, sql, params)
    raw.reverse()

    def convert() -> Iterator[list[Any]]:
        while raw:
            row = list(raw.pop())  # drop each raw row once converted
            for i, read in converted:
                row[i] = read(row[i])
            yield row

    return convert()


def dialect_sql(model: type[Model], sql: str) -> str:
    """``sql`` written with ``?`` placeholders, in the placeholders of ``model``'s database
    (``$1, $2...`` for PostgreSQL). The statements given never hold a literal ``?``."""
    if model._meta.db.capabilities.dialect in ("sqlite", "mysql"):
        return sql
    parts = sql.split("?")
    return "".join(f"{part}${i}" for i, part in enumerate(parts[:-1], 1)) + parts[-1]


async def execute_many(model: type[Model], sql: str, values: Sequence[list[Any]]) -> None:
    """Run one ``?``-placeholder statement for each list of ``values`` (executemany)."""
    if values:
        await model._meta.db.execute_many(dialect_sql(model, sql), list(values))


async def fetch_all(model: type[Model], sql: str, params: Sequence[Any]) -> list[Any]:
    """Rows (sequences of raw database values) of a ``?``-placeholder query."""
    _, rows = await model._meta.db.execute_query(dialect_sql(model, sql), list(params))
    return list(rows)
