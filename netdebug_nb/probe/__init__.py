"""Endpoint probing: "is it the network or the app?" one request phase at a time.

Modules: :mod:`.target` (what to probe: URLs, ``grpc://``, ``tcp://``, ``service:ns/name`` expanded
to the ClusterIP and every ready endpoint), :mod:`.trial` (one row per request, from libcurl's
timers or saved ``curl -w '%{json}'`` lines), :mod:`.prober` (one prober per protocol behind one
interface: :mod:`.http`, :mod:`.tcp`, :mod:`.grpchealth`), :mod:`.schedule` (trials of many targets
at once, serial per target), :mod:`.stats` (percentiles per target and backend, error rates,
outliers, verdicts), :mod:`.tls` (the certificates the server sends), :mod:`.checks` (findings),
:mod:`.plot`. pycurl, grpc and cryptography are imported inside the functions that use them.
"""
