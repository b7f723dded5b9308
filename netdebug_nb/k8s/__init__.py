"""Kubernetes awareness: who an IP address is (pod, service, node), what to probe, where DNS runs.

Importing this package is cheap: the ``kubernetes`` client is imported inside the functions that
talk to a cluster. Modules: :mod:`.client` (connect, bounded calls, one-line errors),
:mod:`.inventory` (pods/services/endpoints/nodes as DataFrames), :mod:`.enrich` (IP columns →
workload names), :mod:`.discovery` (targets and cluster DNS), :mod:`.manifests` (deploy/ objects,
strictly validated), :mod:`.lab` (apply the JupyterLab pod), :mod:`.objects` (cluster objects
from a dump or a cluster), :mod:`.netpol` (NetworkPolicy engine, sans-I/O), :mod:`.policymatrix`
(the pod × pod × port truth table).
"""
