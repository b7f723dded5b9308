"""Latency and loss: fping and mtr runs, their parsers, SmokePing-style analysis and findings.

``fping`` and ``mtr`` run the tools and parse every output form into per-probe and per-hop
frames; ``probes`` turns per-probe frames into distributions, jitter and outages; ``path`` reads
mtr hops without mistaking ICMP rate limiting for loss; ``mtu`` finds path-MTU black holes;
``checks`` turns all of it into findings; ``plot`` draws the views.
"""
