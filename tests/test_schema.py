"""Units come from column names as the schemas declare them."""

from __future__ import annotations

import pytest

from netdebug_nb import schema


@pytest.mark.parametrize(
    ("column", "unit"),
    [
        ("rtt_ms", "ms"),
        ("ts", "time"),
        ("first_ts", "time"),
        ("loss_pct", "%"),
        ("bytes_pct", "%"),
        ("bytes", "bytes"),
        ("bytes_ab", "bytes"),
        ("rx_bytes", "bytes"),
        ("bytes_per_s", "B/s"),
        ("throughput_bps", "bit/s"),
        ("mbps", "Mbit/s"),
        ("sent_mbps", "Mbit/s"),
        ("duration_s", "s"),
        ("retransmission_rate", "share"),
        ("packets", ""),
        ("address", ""),
    ],
)
def test_unit_from_the_column_name(column: str, unit: str) -> None:
    assert schema.unit(column) == unit
