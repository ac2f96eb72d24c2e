"""Metadata filters: every operator selects exactly its articles (swapping two operators' SQL
fails a test), lists, missing values, dates, and numbers compared as numbers."""

from __future__ import annotations

import pytest

import semclust
from semclust.errors import InvalidArgumentError
from semclust.store.filters import as_number, build_filter


def _docs() -> list[semclust.Document]:
    return [
        semclust.Document(
            id=f"d{n}",
            text=f"article number {n} about filters",
            source="A" if n % 2 else "B",
            published=f"2024-01-{n + 1:02d}" if n < 9 else "2024-01-05T10:30:00",
            metadata={"n": n, "tag": f"t{n % 3}", **({"extra": "yes"} if n < 3 else {})},
        )
        for n in range(10)
    ]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> semclust.Store:
    from fake_embedder import FakeEmbedder

    s = semclust.Store.open(tmp_path_factory.mktemp("filters") / "s", model=FakeEmbedder(), cache=False)
    s.add(_docs())
    return s


def found(store: semclust.Store, **kw) -> set[str]:
    hits = store.search("article about filters", k=50, **kw)
    related = store.related("d0", k=50, **kw)
    assert set(related.ids) == set(hits.ids) - {"d0"}  # related takes the same filters
    return set(hits.ids)


def ids(*ns: int) -> set[str]:
    return {f"d{n}" for n in ns}


@pytest.mark.parametrize(
    ("op", "value", "expected"),
    [
        ("eq", 5, ids(5)),
        ("ne", 5, ids(0, 1, 2, 3, 4, 6, 7, 8, 9)),
        ("gt", 5, ids(6, 7, 8, 9)),
        ("gte", 5, ids(5, 6, 7, 8, 9)),
        ("lt", 5, ids(0, 1, 2, 3, 4)),
        ("lte", 5, ids(0, 1, 2, 3, 4, 5)),
        ("in", [2, 7, 11], ids(2, 7)),
        ("in", [], set()),
    ],
)
def test_each_numeric_operator(store: semclust.Store, op: str, value, expected: set[str]) -> None:
    assert found(store, filters={"n": {op: value}}) == expected


@pytest.mark.parametrize(
    ("op", "value", "expected"),
    [
        ("eq", "t1", ids(1, 4, 7)),
        ("ne", "t1", ids(0, 2, 3, 5, 6, 8, 9)),
        ("gt", "t1", ids(2, 5, 8)),
        ("gte", "t1", ids(1, 2, 4, 5, 7, 8)),
        ("lt", "t1", ids(0, 3, 6, 9)),
        ("lte", "t1", ids(0, 1, 3, 4, 6, 7, 9)),
        ("in", ["t0", "t2"], ids(0, 2, 3, 5, 6, 8, 9)),
    ],
)
def test_each_string_operator(store: semclust.Store, op: str, value, expected: set[str]) -> None:
    assert found(store, filters={"tag": {op: value}}) == expected


def test_scalars_lists_missing_and_columns(store: semclust.Store) -> None:
    assert found(store, tag="t2") == ids(2, 5, 8)
    assert found(store, source="A") == ids(1, 3, 5, 7, 9)
    assert found(store, filters={"tag": ["t0", "t1"]}) == ids(0, 1, 3, 4, 6, 7, 9)
    assert found(store, filters={"n": (1, 3)}) == ids(1, 3)
    assert found(store, filters={"extra": None}) == ids(3, 4, 5, 6, 7, 8, 9)
    assert found(store, filters={"n": {"gte": 2, "lt": 6}, "source": "B"}) == ids(2, 4)
    assert found(store, filters={"doc_id": "d4"}) == ids(4)


def test_since_until_bounds_are_inclusive(store: semclust.Store) -> None:
    assert found(store, since="2024-01-08") == ids(7, 8)
    assert found(store, until="2024-01-02") == ids(0, 1)
    # A date `until` includes that whole day (d9 was published at 10:30 on the 5th).
    assert found(store, since="2024-01-05", until="2024-01-05") == ids(4, 9)
    assert found(store, until="2024-01-05T10:00:00", since="2024-01-05") == ids(4)
    assert found(store, filters={"published": {"gte": "2024-01-09"}}) == ids(8)


def test_numbers_compare_as_numbers_whether_stored_as_numbers_or_strings(tmp_path, fake) -> None:
    store = semclust.Store.open(tmp_path / "typed", model=fake, cache=False)
    values = {"num-90": 90, "num-300": 300, "num-1000": 1000, "num-2.5": 2.5,
              "str-90": "90", "str-300": "300", "str-1000": " 1000 ", "str-2.5": "2.5", "word": "abc"}
    store.add([semclust.Document(id=i, text=f"typed value {i}", metadata={"words": v}) for i, v in values.items()])
    assert found_all(store, {"gte": 300}) == {"num-300", "num-1000", "str-300", "str-1000"}
    assert found_all(store, {"lt": 100}) == {"num-90", "num-2.5", "str-90", "str-2.5"}
    assert found_all(store, {"eq": 300}) == {"num-300", "str-300"}
    assert found_all(store, 1000) == {"num-1000", "str-1000"}
    assert found_all(store, {"in": [90, "abc"]}) == {"num-90", "str-90", "word"}
    assert found_all(store, {"ne": 90}) == set(values) - {"num-90", "str-90"}
    assert found_all(store, {"gt": 2, "lte": 90}) == {"num-90", "num-2.5", "str-90", "str-2.5"}
    assert found_all(store, {"eq": "300"}) == {"str-300"}  # a string compares strings


def found_all(store: semclust.Store, cond) -> set[str]:
    return set(store.search("typed value", k=50, filters={"words": cond}).ids)


def test_as_number() -> None:
    assert [as_number(v) for v in (3, 2.5, "7", " -1e3 ", ".5", True, "abc", "nan", "inf", None, "1,5")] == [
        3.0, 2.5, 7.0, -1000.0, 0.5, None, None, None, None, None, None
    ]


def test_bad_filters_fail_before_any_search(store: semclust.Store) -> None:
    with pytest.raises(InvalidArgumentError, match="unknown comparison 'gtx'"):
        store.search("x", filters={"n": {"gtx": 1}})
    with pytest.raises(InvalidArgumentError, match="not a valid field name"):
        build_filter({"a'b": 1})
    with pytest.raises(InvalidArgumentError, match="expected a string or number"):
        build_filter({"n": {"eq": object()}})
    with pytest.raises(InvalidArgumentError, match="'in' takes a list"):
        build_filter({"n": {"in": "abc"}})
    with pytest.raises(InvalidArgumentError, match="not a number"):
        build_filter({"n": {"gte": float("nan")}})
    with pytest.raises(InvalidArgumentError, match="until"):
        store.search("x", until="soon")
