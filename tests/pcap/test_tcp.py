"""TCP health on crafted packet tables: every counter is checked against a hand-made exchange."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from netdebug_nb.pcap import flows, tcp
from netdebug_nb.pcap.schema import PACKETS_SCHEMA
from netdebug_nb.schema import check, frame

sys.path.insert(0, str(Path(__file__).parent))

from packet_rows import T0, packet_row

C, S = "198.18.1.2", "198.18.2.10"
FLAGS = {"F": 1, "S": 2, "R": 4, "P": 8, "A": 16}


def packets(rows: list[tuple[Any, ...]]) -> pd.DataFrame:
    """Rows of (t_ms, 'c>s'|'s>c', flags, seq, ack, payload_len[, win]) → a PACKETS_SCHEMA table."""
    recs = []
    for i, row in enumerate(rows, start=1):
        t_ms, way, flags, seq, ack, plen, *rest = row
        win = rest[0] if rest else 502
        c2s = way == "c>s"
        recs.append(
            packet_row(
                i,
                ts=T0 + pd.Timedelta(milliseconds=t_ms),
                caplen=54 + plen,
                wirelen=54 + plen,
                ip_version=4,
                src=C if c2s else S,
                dst=S if c2s else C,
                proto=6,
                ttl=64,
                ip_id=i,
                frag=False,
                sport=40000 if c2s else 80,
                dport=80 if c2s else 40000,
                tcp_flags=sum(FLAGS[f] for f in flags),
                tcp_seq=seq,
                tcp_ack=ack,
                tcp_win=win,
                payload_len=plen,
                l4_offset=54,
            )
        )
    return frame(recs, PACKETS_SCHEMA)


HANDSHAKE = [
    (0, "c>s", "S", 1000, 0, 0),
    (10, "s>c", "SA", 5000, 1001, 0),
    (12, "c>s", "A", 1001, 5001, 0),
]


def events(df: pd.DataFrame) -> list[tuple[int, str]]:
    return list(tcp.analyze(df).events[["frame", "event"]].itertuples(index=False, name=None))


def test_clean_handshake_gives_exact_rtts_and_no_events() -> None:
    df = packets(
        [
            *HANDSHAKE,
            (20, "c>s", "PA", 1001, 5001, 100),
            (30, "s>c", "A", 5001, 1101, 0),
            (31, "s>c", "PA", 5001, 1101, 200),
            (35, "c>s", "A", 1101, 5201, 0),
            (40, "c>s", "FA", 1101, 5201, 0),
            (41, "s>c", "FA", 5201, 1102, 0),
            (42, "c>s", "A", 1102, 5202, 0),
        ]
    )
    a = tcp.analyze(df)
    check(a.health, tcp.HEALTH_SCHEMA)
    check(a.events, tcp.EVENTS_SCHEMA)
    check(a.rtt, tcp.RTT_SCHEMA)
    h = a.health.iloc[0]
    assert (h["client"], h["client_port"], h["server"], h["server_port"]) == (C, 40000, S, 80)
    assert h["state"] == "established" and h["closed"] == "fin"
    assert h["handshake_rtt_ms"] == pytest.approx(12.0)
    assert h["syn_synack_ms"] == pytest.approx(10.0)
    assert h["synack_ack_ms"] == pytest.approx(2.0)
    assert h["connect_ms"] == pytest.approx(12.0)
    assert h["syns"] == 1
    assert (h["payload_c2s_bytes"], h["payload_s2c_bytes"]) == (100, 200)
    assert h["retransmissions"] == h["out_of_order"] == h["dup_acks"] == h["resets"] == 0
    assert a.events.empty
    # data 1001..1101 acked at 30 ms (10 ms), data 5001..5201 acked at 35 ms (4 ms)
    assert sorted(a.rtt["rtt_ms"].round(3)) == [4.0, 10.0]


def test_client_is_found_even_when_the_capture_starts_with_the_syn_ack() -> None:
    df = packets(HANDSHAKE[1:])
    h = tcp.analyze(df).health.iloc[0]
    assert (h["client"], h["server"], h["state"]) == (C, S, "established")
    assert pd.isna(h["handshake_rtt_ms"]) and h["synack_ack_ms"] == pytest.approx(2.0)
    h = tcp.analyze(packets(HANDSHAKE[1:2])).health.iloc[0]
    assert (h["client"], h["state"]) == (C, "incomplete")


def test_retransmission_of_a_seen_segment() -> None:
    df = packets(
        [
            *HANDSHAKE,
            (20, "c>s", "PA", 1001, 5001, 100),
            (230, "c>s", "PA", 1001, 5001, 100),  # RTO: same data again
            (240, "s>c", "A", 5001, 1101, 0),
        ]
    )
    a = tcp.analyze(df)
    assert events(df) == [(5, "retransmission")]
    h = a.health.iloc[0]
    assert h["retransmissions"] == 1 and h["data_segments"] == 4  # SYN, SYN/ACK, data twice
    assert h["retransmission_rate"] == pytest.approx(1 / 4)
    assert a.rtt.empty  # Karn: the retransmitted range gives no sample


def test_hole_filled_late_is_a_retransmission_and_quickly_is_out_of_order() -> None:
    late = packets(
        [
            *HANDSHAKE,
            (20, "c>s", "PA", 1101, 5001, 100),  # 1001..1101 never seen: gap
            (300, "c>s", "PA", 1001, 5001, 100),  # fills the hole 280 ms later
        ]
    )
    assert events(late) == [(4, "unseen_segment"), (5, "retransmission")]
    quick = packets(
        [
            *HANDSHAKE,
            (20, "c>s", "PA", 1101, 5001, 100),
            (21, "c>s", "PA", 1001, 5001, 100),  # 1 ms later, below the 12 ms handshake RTT
        ]
    )
    assert events(quick) == [(4, "unseen_segment"), (5, "out_of_order")]
    assert tcp.analyze(quick).health.iloc[0]["out_of_order"] == 1


def test_duplicate_acks_need_outstanding_data() -> None:
    df = packets(
        [
            *HANDSHAKE,
            (20, "c>s", "PA", 1001, 5001, 100),
            (21, "c>s", "PA", 1101, 5001, 100),
            (22, "c>s", "PA", 1201, 5001, 100),
            (30, "s>c", "A", 5001, 1101, 0),
            (31, "s>c", "A", 5001, 1101, 0),  # dup ack 1
            (32, "s>c", "A", 5001, 1101, 0),  # dup ack 2
            (40, "s>c", "A", 5001, 1301, 0),
            (50, "s>c", "A", 5001, 1301, 0),  # same ack, nothing outstanding: not a dup ack
        ]
    )
    assert events(df) == [(8, "dup_ack"), (9, "dup_ack")]


def test_zero_window_and_reset() -> None:
    df = packets(
        [
            *HANDSHAKE,
            (20, "c>s", "PA", 1001, 5001, 100),
            (30, "s>c", "A", 5001, 1101, 0, 0),  # window closed
            (40, "s>c", "RA", 5001, 1101, 0, 0),
        ]
    )
    h = tcp.analyze(df).health.iloc[0]
    assert events(df) == [(5, "zero_window"), (6, "reset")]
    assert h["zero_window"] == 1 and h["resets"] == 1 and h["reset_by"] == "server"
    assert h["closed"] == "reset"


def test_unanswered_syn_with_retries_and_refused_connection() -> None:
    unanswered = packets(
        [(0, "c>s", "S", 1000, 0, 0), (1000, "c>s", "S", 1000, 0, 0), (3000, "c>s", "S", 1000, 0, 0)]
    )
    h = tcp.analyze(unanswered).health.iloc[0]
    assert h["state"] == "unanswered" and h["syns"] == 3 and h["retransmissions"] == 2
    assert pd.isna(h["handshake_rtt_ms"])
    refused = packets([(0, "c>s", "S", 1000, 0, 0), (1, "s>c", "RA", 0, 1001, 0, 0)])
    h = tcp.analyze(refused).health.iloc[0]
    assert h["state"] == "refused" and h["reset_by"] == "server"
    assert len(tcp.never_completed(tcp.analyze(refused).health)) == 1


def test_syn_retry_then_answer_measures_rtt_from_the_last_syn() -> None:
    df = packets(
        [
            (0, "c>s", "S", 1000, 0, 0),
            (1000, "c>s", "S", 1000, 0, 0),
            (1005, "s>c", "SA", 5000, 1001, 0),
            (1006, "c>s", "A", 1001, 5001, 0),
        ]
    )
    h = tcp.analyze(df).health.iloc[0]
    assert h["handshake_rtt_ms"] == pytest.approx(6.0)
    assert h["connect_ms"] == pytest.approx(1006.0)
    assert h["syns"] == 2


def test_keepalive_is_not_a_retransmission() -> None:
    df = packets([*HANDSHAKE, (20, "c>s", "A", 1000, 5001, 0), (21, "s>c", "A", 5001, 1001, 0)])
    assert [e for _, e in events(df)] == []


def test_packet_captured_twice_is_not_a_retransmission() -> None:
    df = packets([*HANDSHAKE, (20, "c>s", "PA", 1001, 5001, 100), (20, "c>s", "PA", 1001, 5001, 100)])
    df.loc[4, "ip_id"] = df.loc[3, "ip_id"]  # same IP packet seen on a second interface
    assert events(df) == []


def test_sequence_wraparound() -> None:
    top = 2**32 - 50
    df = packets(
        [
            (0, "c>s", "S", top - 1, 0, 0),
            (1, "s>c", "SA", 5000, top, 0),
            (2, "c>s", "A", top, 5001, 0),
            (3, "c>s", "PA", top, 5001, 100),  # wraps past 2**32
            (4, "c>s", "PA", 50, 5001, 100),
            (5, "s>c", "A", 5001, 150, 0),
        ]
    )
    assert events(df) == []
    assert len(tcp.analyze(df).rtt) == 1


def test_non_tcp_and_empty_input_give_empty_declared_frames() -> None:
    empty = frame([], PACKETS_SCHEMA)
    a = tcp.analyze(empty)
    check(a.health, tcp.HEALTH_SCHEMA)
    df = packets(HANDSHAKE)
    df["proto"] = pd.array([17] * 3, dtype="UInt8")
    a = tcp.analyze(df, flows.label(df))
    assert a.health.empty and a.events.empty


def test_reused_port_starts_a_new_flow() -> None:
    second = [
        (100, "c>s", "S", 90000, 0, 0),
        (110, "s>c", "SA", 70000, 90001, 0),
        (112, "c>s", "A", 90001, 70001, 0),
        (120, "c>s", "PA", 90001, 70001, 50),
    ]
    first = [*HANDSHAKE, (20, "c>s", "PA", 1001, 5001, 100), (30, "c>s", "FA", 1101, 5001, 0)]
    df = packets(first + second)
    labels = flows.label(df)
    assert labels["flow"].tolist() == [0] * 5 + [1] * 4
    a = tcp.analyze(df, labels)
    assert a.health["state"].tolist() == ["established", "established"]
    assert a.events.empty
    # a SYN after packets of a connection whose start was not captured also starts a new flow
    assert flows.label(packets(first[3:] + second))["flow"].tolist() == [0, 0, 1, 1, 1, 1]
