"""Reading an mtr path correctly: loss that does not carry to the end is not packet loss.

Routers answer traceroute probes from their control plane, which rate-limits ICMP TTL-exceeded
replies (or filters them). Such a hop shows loss, or ``???``, while every later hop and the
destination answer fine: traffic *through* the router is not lost. Real loss starts at a hop and
persists at every later hop. So each hop's loss is split into the part that carries forward (the
minimum loss of this hop and all later responding hops) and the excess that does not.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from netdebug_nb import schema
from netdebug_nb.latency.mtr import HOPS_SCHEMA

PATH_SCHEMA: schema.Schema = {
    **HOPS_SCHEMA,
    "carried_loss_pct": "Float64",  # loss that persists to the destination (min over this and later hops)
    "excess_loss_pct": "Float64",  # loss seen only at this hop: ICMP rate limiting/filtering, not packet loss
    "verdict": "string",  # ok | loss_starts_here | loss_carried | rate_limited | no_reply | destination | unreached
}


def interpret(hops: pd.DataFrame, *, loss_threshold_pct: float = 2.0) -> pd.DataFrame:
    """Each hop with its loss split into carried and excess, and a verdict.

    ``loss_threshold_pct`` is the loss below which a hop counts as clean (a couple of lost probes
    in a short run are noise).
    """
    if len(hops) == 0:
        return schema.empty(PATH_SCHEMA)
    if hops["dst"].nunique(dropna=False) > 1:
        parts = [_one_path(g, loss_threshold_pct) for _, g in hops.groupby("dst", sort=False, dropna=False)]
        return schema.frame(pd.concat(parts, ignore_index=True), PATH_SCHEMA)
    return _one_path(hops, loss_threshold_pct)


def _one_path(hops: pd.DataFrame, loss_threshold_pct: float) -> pd.DataFrame:
    h = hops.sort_values(["hop", "responder"], kind="stable").reset_index(drop=True)
    # one loss figure per hop (responders of one hop share the hop's loss, as mtr reports it)
    per_hop = h.groupby("hop", sort=True).agg(loss=("loss_pct", "min"), responded=("responded", "any"))
    loss = per_hop["loss"].astype("float64").to_numpy()
    responded = per_hop["responded"].astype(bool).to_numpy()
    masked = np.where(responded, loss, np.inf)
    carried = np.minimum.accumulate(masked[::-1])[::-1]  # suffix minimum over responding hops
    carried = np.where(np.isinf(carried), 100.0, carried)
    last_hop = per_hop.index.max()
    dst = str(h["dst"].iloc[0]) if h["dst"].notna().any() else ""
    if _is_address(dst):
        reached = bool(((h["host"] == dst) & h["responded"].astype(bool)).any())
    else:  # traced by name (mtr --json keeps the name): the last hop answering is the best evidence
        reached = bool(responded[-1])
    prev_carried = np.r_[0.0, carried[:-1]]
    verdicts = []
    for i, hop in enumerate(per_hop.index):
        excess = loss[i] - carried[i]
        if hop == last_hop:
            v = "destination" if reached and responded[i] else "unreached"
        elif not responded[i]:
            v = "no_reply"
        elif excess > loss_threshold_pct:
            v = "rate_limited"
        elif carried[i] > loss_threshold_pct and carried[i] - prev_carried[i] > loss_threshold_pct:
            v = "loss_starts_here"
        elif carried[i] > loss_threshold_pct:
            v = "loss_carried"
        else:
            v = "ok"
        verdicts.append(v)
    info = pd.DataFrame(
        {
            "hop": per_hop.index,
            "carried_loss_pct": carried,
            "excess_loss_pct": loss - carried,
            "verdict": verdicts,
        }
    )
    out = h.merge(info, on="hop", how="left")
    return schema.frame(out, PATH_SCHEMA)


def _is_address(text: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def loss_origin(path: pd.DataFrame, *, loss_threshold_pct: float = 2.0) -> pd.DataFrame:
    """Hops where real (carried) loss begins, including the destination when loss appears only there."""
    if len(path) == 0:
        return path
    first = path[path["responder"] == 0]
    carried = first["carried_loss_pct"].astype("float64")
    prev = carried.shift(1, fill_value=0.0)
    starts = (
        (carried > loss_threshold_pct)
        & (carried - prev > loss_threshold_pct)
        & first["responded"].astype(bool)
    )
    return first[starts]
