"""The numpy group operations give what the pandas operations they replace give, row for row."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from netdebug_nb.pcap import groups

SIZES = (0, 1, 2, 7, 1000, 70_000)


def columns(n: int, distinct: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [
        rng.integers(-distinct, distinct, n),  # negative values too (relative sequence numbers)
        rng.integers(0, 3, n).astype(np.uint16),
        rng.random(n) < 0.5,
    ]


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("distinct", [1, 3, 1000, 10**12, 10**18])  # 10**18: too wide to pack, hashed
def test_duplicated_and_repeated_are_pandas_duplicated(n: int, distinct: int) -> None:
    cols = columns(n, distinct, seed=n + distinct)
    table = pd.DataFrame({str(i): c for i, c in enumerate(cols)})
    assert groups.duplicated(*cols).tolist() == table.duplicated(keep="first").tolist()
    assert groups.repeated(*cols).tolist() == table.duplicated(keep=False).tolist()


def test_duplicated_on_one_column_with_extreme_values() -> None:
    x = np.array([np.iinfo(np.int64).min, 0, -1, np.iinfo(np.int64).max, 0, np.iinfo(np.int64).min, -1])
    assert groups.duplicated(x).tolist() == pd.Series(x).duplicated().tolist()
    assert groups.repeated(x).tolist() == pd.Series(x).duplicated(keep=False).tolist()


@pytest.mark.parametrize("n", SIZES)
def test_first_rows_is_unique_with_return_index(n: int) -> None:
    keys = np.random.default_rng(n).integers(-1, 50, n)  # -1: no key (packets without a flow)
    ids, first = groups.first_rows(keys)
    want_ids, want_at = np.unique(keys[keys >= 0], return_index=True)
    assert ids.tolist() == want_ids.tolist()
    assert first.tolist() == np.flatnonzero(keys >= 0)[want_at].tolist()


@pytest.mark.parametrize("k", [1, 300, 70_000, 1 << 17])
def test_order_is_a_stable_sort_and_dense_keeps_the_order(k: int) -> None:
    rng = np.random.default_rng(k)
    sparse = rng.choice(np.arange(0, 5 * k, 5), size=4 * k)  # k = 1 << 17: more than 16 bits
    keys, distinct = groups.dense(sparse)
    assert distinct.tolist() == np.unique(sparse).tolist()
    assert (distinct[keys] == sparse).all()
    assert groups.order(keys, len(distinct)).tolist() == np.argsort(keys, kind="stable").tolist()


@pytest.mark.parametrize("n", SIZES)
def test_running_max_and_previous_are_groupby_cummax_and_shift(n: int) -> None:
    rng = np.random.default_rng(n)
    key = np.sort(rng.integers(0, max(n // 10, 1), n))  # rows already in group order
    values = rng.integers(-(1 << 31), 1 << 32, n)
    start = groups.starts(key)
    s = pd.Series(values)
    assert groups.running_max(values, start).tolist() == s.groupby(key).cummax().tolist()
    want = s.groupby(key).shift(1).fillna(-7).astype(np.int64).tolist()
    assert groups.previous(values, start, -7).tolist() == want
