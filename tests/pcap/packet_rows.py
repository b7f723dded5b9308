"""Hand-made rows of the packet table for analysis tests.

Every column of PACKETS_SCHEMA starts empty; a test names only the fields its case is about, so
a column added to the schema does not need editing in every test module.
"""

from __future__ import annotations

import pandas as pd

from netdebug_nb.pcap.schema import PACKETS_SCHEMA

T0 = pd.Timestamp("2026-01-01", tz="UTC")


def packet_row(frame: int, **fields: object) -> dict[str, object]:
    unknown = set(fields) - set(PACKETS_SCHEMA)
    if unknown:
        raise KeyError(f"not packet-table columns: {sorted(unknown)}")
    row: dict[str, object] = dict.fromkeys(PACKETS_SCHEMA)
    row |= {
        "frame": frame,
        "ts": T0,
        "caplen": 0,
        "wirelen": 0,
        "linktype": 1,
        "iface": 0,
        "file": 0,
        "offset": 0,
    }
    row |= fields
    return row
