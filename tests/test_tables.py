"""The readers' tables (store/tables.py) are the models' tables (store/models.py).

The room reads through SQLAlchemy Core without the model classes; a column
added to a model and not here would be missing from every read, one with
another type would come back unconverted (a naive time, a bare string for
an enum, 0/1 for a boolean).
"""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.types import TypeEngine
from sqlmodel import SQLModel

from warroom.store import models  # noqa: F401  (defines the tables in SQLModel.metadata)
from warroom.store import tables as t
from warroom.store.types import EnumText, UTCDateTime

# Written by the command layer only, never read by a room.
NOT_READ = {"notify_attempt"}


def kind(of: TypeEngine[Any]) -> tuple[str, Any]:
    """What reading a column does with its value: convert it (and to what), or not."""
    if isinstance(of, EnumText):
        return ("enum", of.enum)
    for converted in (UTCDateTime, sa.Boolean, sa.Float, sa.Integer):
        if isinstance(of, converted):
            return (converted.__name__, None)
    # Text, String, and SQLModel's AutoString (a TypeDecorator of String)
    assert isinstance(getattr(of, "impl", of), sa.String), of
    return ("text", None)


MODEL_TABLES = sorted(set(SQLModel.metadata.tables) - NOT_READ)


def test_every_table_the_models_define_has_a_reader_table() -> None:
    readers = {name for name, value in vars(t).items() if isinstance(value, sa.TableClause)}
    assert readers == set(MODEL_TABLES)


@pytest.mark.parametrize("name", MODEL_TABLES)
def test_a_reader_table_has_the_models_columns_in_order_with_their_types(name: str) -> None:
    model = SQLModel.metadata.tables[name]
    reader = getattr(t, name)
    assert reader.name == name
    assert [(c.name, kind(c.type)) for c in reader.c] == [(c.name, kind(c.type)) for c in model.c]


def test_a_changed_type_is_noticed() -> None:
    """The comparison can fail: a time read as text, an enum read as another enum."""
    assert kind(sa.Text()) != kind(UTCDateTime())
    assert kind(t.service.c.state.type) != kind(t.trigger_state.c.state.type)
    assert kind(sa.Boolean()) != kind(sa.Integer())
