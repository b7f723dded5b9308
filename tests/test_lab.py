"""The lab itself: namespaces come up routed, isolated, and go away."""

from __future__ import annotations

import subprocess

import pytest
from lab import Lab, routed

pytestmark = pytest.mark.lab


def test_routed_lab_forwards_and_tears_down(lab: Lab) -> None:
    hosts = routed(lab)
    client = hosts["client"]
    out = client.run("ping", "-c", "1", "-W", "2", "198.18.2.10", check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    routes = client.run("ip", "route").stdout
    assert "default" not in routes
    names = [h.ns for h in lab.hosts.values()]
    lab.close()
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert not any(n in listed for n in names)
