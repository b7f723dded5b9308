"""Group operations over packet columns with numpy alone: first row, previous row, running maximum.

The analyses group packets by flow or by flow direction and look at each packet against the
ones before it in its group. pandas ``groupby(...).shift()``/``cummax()``/``duplicated()`` do
that with a hash table and an object per call; here the packets are put in group order once
(:func:`order`: a stable sort, a radix sort when the groups are numbered densely) and every
per-group question becomes a shifted comparison over contiguous runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np


def first_rows(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distinct non-negative keys ascending, index of each one's first row); keys < 0 are left out.

    Same as ``np.unique(keys[keys >= 0], return_index=True)`` (mapped back to rows of ``keys``)
    without sorting: keys are small integers (flow numbers), so a minimum per key does it.
    """
    import numpy as np

    n_rows = len(keys)
    at = np.flatnonzero(keys >= 0)
    if len(at) == 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    k = keys[at]
    first = np.full(int(k.max()) + 1, n_rows, dtype=np.int64)
    np.minimum.at(first, k, at)
    ids = np.flatnonzero(first < n_rows)
    return ids, first[ids]


def dense(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``keys`` (non-negative, small) renumbered 0..k-1 in their order, and the k distinct keys."""
    import numpy as np

    if len(keys) == 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    present = np.zeros(int(keys.max()) + 1, dtype=bool)
    present[keys] = True
    rank = np.cumsum(present) - 1
    return rank[keys], np.flatnonzero(present)


def order(keys: np.ndarray, k: int) -> np.ndarray:
    """Stable order of rows by ``keys`` (dense, in ``range(k)``): groups contiguous, rows in order.

    Radix passes over 16-bit digits: linear in the rows, where a comparison sort of int64 is not.
    """
    import numpy as np

    if k <= 1 << 16:
        out: np.ndarray = np.argsort(keys.astype(np.uint16), kind="stable")
        return out
    lo = np.argsort((keys & 0xFFFF).astype(np.uint16), kind="stable")
    if k <= 1 << 32:
        hi = np.argsort((keys[lo] >> 16).astype(np.uint16), kind="stable")
        out = lo[hi]
        return out
    out = np.argsort(keys, kind="stable")
    return out


def starts(sorted_keys: np.ndarray) -> np.ndarray:
    """True where a run of equal keys begins (rows already in group order)."""
    import numpy as np

    out = np.ones(len(sorted_keys), dtype=bool)
    if len(sorted_keys) > 1:
        np.not_equal(sorted_keys[1:], sorted_keys[:-1], out=out[1:])
    return out


def previous(values: np.ndarray, start: np.ndarray, missing: int | float) -> np.ndarray:
    """The value of the row before in the same run (``missing`` for a run's first row)."""
    import numpy as np

    dtype = np.result_type(values.dtype, np.min_scalar_type(missing)) if len(values) else values.dtype
    out = np.empty(len(values), dtype=dtype)
    if len(values):
        out[1:] = values[:-1]
        out[start] = missing
    return out


def running_max(values: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Maximum of each row and the rows before it in its run (int64 values).

    Each run is lifted above every earlier run before one ``maximum.accumulate`` over all rows,
    so the maximum restarts at each run; exact while runs * value span stays under 2**62.
    """
    import numpy as np

    if len(values) == 0:
        return values.astype(np.int64)
    lo = int(values.min())
    span = int(values.max()) - lo + 1
    run = np.cumsum(start) - 1
    if int(run[-1]) * span >= 1 << 62:  # never for packet fields; stay exact anyway
        out = values.astype(np.int64)
        for b, e in _bounds(start):
            np.maximum.accumulate(out[b:e], out=out[b:e])
        return out
    lift = run * span - lo
    out = np.maximum.accumulate(values + lift)
    out -= lift
    return out


def _bounds(start: np.ndarray) -> list[tuple[int, int]]:
    import numpy as np

    b = np.flatnonzero(start).tolist()
    return list(zip(b, [*b[1:], len(start)], strict=True))


def duplicated(*columns: np.ndarray) -> np.ndarray:
    """True for rows whose values in all ``columns`` equal an earlier row's (``keep="first"``)."""
    import numpy as np

    dup = np.zeros(len(columns[0]), dtype=bool)
    rows, codes = _alike(columns)
    if len(rows):
        seen = np.empty(len(rows), dtype=np.int64)
        seen[0] = -1
        np.maximum.accumulate(codes[:-1], out=seen[1:])
        dup[rows] = codes <= seen
    return dup


def repeated(*columns: np.ndarray) -> np.ndarray:
    """True for rows whose values in all ``columns`` some other row has too (``keep=False``)."""
    import numpy as np

    rep = np.zeros(len(columns[0]), dtype=bool)
    rows, codes = _alike(columns)
    if len(rows):
        rep[rows] = np.bincount(codes)[codes] > 1
    return rep


def _alike(columns: tuple[np.ndarray, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(rows that may share their values with another row, in order; their values' numbers).

    The columns are mixed into one 64-bit hash. Rows alone in their bucket of a table of ~2-4
    buckets per row share nothing (a counting pass, no hashing); the other rows' hashes are
    numbered in order of first appearance, and each row is compared column by column with the
    first row of its number. On a collision (never seen in practice) the exact numbering of all
    rows by pandas is returned instead.
    """
    import numpy as np
    import pandas as pd

    n = len(columns[0])
    if n == 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    key = _packed(columns)
    h = np.zeros(n, dtype=np.uint64)
    t = np.empty(n, dtype=np.uint64)
    with np.errstate(over="ignore"):
        if key is not None:  # one exact key: its hash only spreads the buckets
            h[:] = key.view(np.uint64)
            h *= np.uint64(0xBF58476D1CE4E5B9)
            columns = ()
        for c in columns:  # in place: two temporaries of one column each, whatever the columns
            x = c.astype(np.uint64)  # negative values wrap: the same bits, as wanted
            x += np.uint64(0x9E3779B97F4A7C15)
            x += np.left_shift(h, np.uint64(6), out=t)
            x += np.right_shift(h, np.uint64(2), out=t)
            h ^= x
            h *= np.uint64(0xBF58476D1CE4E5B9)
            del x
        h ^= np.right_shift(h, np.uint64(31), out=t)
    del t
    bits = min(max(n.bit_length(), 10), 24)
    bucket = (h >> np.uint64(64 - bits)).astype(np.intp)
    rows = np.flatnonzero(np.bincount(bucket, minlength=1 << bits)[bucket] > 1)
    del bucket
    if len(rows) == 0:
        return rows, rows
    if key is not None:
        exact_codes, _ = pd.factorize(key[rows])
        return rows, exact_codes.astype(np.int64)
    codes, _ = pd.factorize(h[rows])
    ids, first = first_rows(codes)
    ref = np.empty(int(ids.max()) + 1, dtype=np.int64)
    ref[ids] = rows[first]
    ref_rows = ref[codes]
    if all(np.array_equal(c[rows], c[ref_rows]) for c in columns):
        return rows, codes.astype(np.int64)
    exact = (
        pd.DataFrame({str(i): c for i, c in enumerate(columns)})
        .groupby(list(map(str, range(len(columns)))), sort=False)
        .ngroup()
    )
    return np.arange(n), exact.to_numpy(dtype=np.int64)


def _packed(columns: tuple[np.ndarray, ...]) -> np.ndarray | None:
    """The columns as one exact int64 (mixed radix over their value ranges), if they fit in 62 bits."""
    import numpy as np

    ranges = []
    total = 1
    for c in columns:
        if c.dtype == np.uint64:  # may not fit int64 as it is
            return None
        lo = int(c.min())
        span = int(c.max()) - lo + 1
        total *= span
        if total >= 1 << 62:
            return None
        ranges.append((lo, span))
    key = np.zeros(len(columns[0]), dtype=np.int64)
    for c, (lo, span) in zip(columns, ranges, strict=True):
        key *= span
        key += c.astype(np.int64)
        key -= lo
    return key
