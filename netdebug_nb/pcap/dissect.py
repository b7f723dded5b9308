"""Deep inspection of selected packets with scapy: every protocol scapy knows, for a few rows.

The packet table covers the common headers for millions of packets; when a notebook needs the
rest (DNS answers, TLS handshakes, options) for the handful of packets a finding points at, it
hands those rows here. scapy is imported only when this is called.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from netdebug_nb.pcap.reader import packet_records

if TYPE_CHECKING:
    import pandas as pd


def dissect(path: str | Path | pd.DataFrame, rows: pd.DataFrame | Sequence[int] | None = None) -> list[Any]:
    """scapy packets for ``rows`` (packet-table rows, or 1-based frame numbers), in that order.

    ``dissect(df_rows)`` alone works too: the table remembers its file in ``attrs["path"]``
    (rows of a capture set, ``attrs["files"]``, are read at their ``offset`` in their ``file``).
    Each packet is dissected with the layer scapy registers for its link type (raw bytes when
    scapy does not know it) and carries its capture time in ``.time``, as ``rdpcap`` would.
    """
    import pandas as pd
    from scapy.config import conf
    from scapy.packet import Raw

    if isinstance(path, pd.DataFrame):
        if rows is not None or "path" not in path.attrs:
            raise TypeError("dissect(rows) takes packet-table rows that remember their file (attrs['path'])")
        rows, path = path, path.attrs["path"]
    if rows is None:
        raise TypeError("dissect(path, rows): which rows?")
    if isinstance(rows, pd.DataFrame) and "offset" in rows.columns and rows.attrs.get("files"):
        # rows of a capture set: each packet is read at its offset in its own file
        from netdebug_nb.pcap.captureset import packet_bytes

        records = list(
            zip(
                packet_bytes(rows),
                rows["linktype"].astype("int64").tolist(),
                rows["ts"].array.asi8.tolist(),
                strict=True,
            )
        )
    else:
        frames = [int(f) for f in (rows["frame"] if isinstance(rows, pd.DataFrame) else rows)]
        records = packet_records(Path(str(path)), frames)
    out = []
    for data, linktype, ts_ns in records:
        cls = conf.l2types.num2layer.get(linktype, Raw)
        try:
            pkt = cls(data)
        except Exception:  # scapy raises arbitrary errors on malformed input; keep the bytes
            pkt = Raw(data)
        pkt.time = Decimal(ts_ns) / Decimal(1_000_000_000)  # type: ignore[assignment]
        out.append(pkt)
    return out
