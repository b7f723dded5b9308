"""DNS resolution tracing: what an application's resolver really sends, with timings.

``resolvconf`` (parse, pure) → ``expansion`` (glibc/musl query order, pure) → ``tracer``
(real queries with dnspython) or ``capture`` (the same table from a pcap) → ``checks``
(frames and thresholds → findings) and ``plot``. ``servers`` compares replicas and probes
caches; ``iterative`` walks down from configurable root hints like ``dig +trace``.
"""
