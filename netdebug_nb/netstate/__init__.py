"""Host network state and reachability: routes, neighbours, interfaces, sockets, conntrack,
firewall, kube-proxy, port reachability and throughput, read from one snapshot directory.

The state is always read from a snapshot (see :mod:`netdebug_nb.netstate.snapshot` for the file
layout), whether it was just collected live or brought from another node, so the live report and
the offline one go through exactly the same parsers.
"""
