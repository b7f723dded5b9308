"""Fleet: run one notebook on many nodes as Kubernetes Jobs and merge what comes back.

One pod sees the network from one place; many incidents ("node-7 cannot reach node-3", "DNS is
slow only on node-12") need many vantage points. The cluster itself runs the kit: one Job per
node, each running the lab image with ``netdebug-nb fleet exec`` (the notebook, then its result
framed into the pod log), and the controller on the user's machine collects the results into
``DIR/<node>/NOTEBOOK/`` and builds one incident index.

Modules: :mod:`.framing` (sans-I/O result frames in a log) · :mod:`.result` (pack/unpack a run
directory) · :mod:`.jobspec` (pure Job manifests) · :mod:`.tracker` (sans-I/O per-node state from
watch events) · :mod:`.api` (the few raw REST calls) · :mod:`.controller` (the recipe) ·
:mod:`.mesh` and :mod:`.dnsmatrix` (pure merges of per-node outputs) · :mod:`.progress` ·
:mod:`.pod` (what runs inside each Job) · :mod:`.capture` (``fleet capture``: synchronised
tcpdump on several nodes, its own pod command, ``capture_compare`` as the merge).
"""
