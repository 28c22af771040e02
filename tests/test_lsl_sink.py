"""The alert marker stream: announced on this machine only unless the configuration opens it, and without
the subject's id unless asked. liblsl reads its configuration once per process: each case runs in its own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PROBE = r"""
import json, os, sys, time
from inference.alerts import LslMarkerSink
sink = LslMarkerSink("S01_1", scope=sys.argv[1], identify=sys.argv[2] == "1")
sent = []
class Outlet:
    def push_sample(self, sample):
        sent.append(sample[0])
real = sink._outlet
time.sleep(0.5)
inodes = set()
for fd in os.listdir("/proc/self/fd"):
    try:
        target = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        continue
    if target.startswith("socket:["):
        inodes.add(target[8:-1])
sockets = []
for proto in ("udp", "udp6"):
    with open(f"/proc/net/{proto}") as table:
        next(table)
        sockets += [(proto, line.split()[1]) for line in table if line.split()[9] in inodes]
from inference.alerts import Alert
sink._outlet = Outlet()
sink.deliver(Alert("S01_1", 1, 2, 3, 0.1, 0.2, 0.3, "", "", "", 0.9, 1.0, 0.5, 2.0, "genuine", "ME", 0.4))
print(json.dumps({"sockets": sockets, "source_id": real.get_info().source_id(), "sent": sent}))
"""
ROOT = Path(__file__).resolve().parent.parent
DISCOVERY_PORT = f"{16571:04X}"  # liblsl's multicast port, where queries from other machines would come in


def probe(scope: str, identify: bool) -> dict:
    done = subprocess.run([sys.executable, "-c", PROBE, scope, "1" if identify else "0"], capture_output=True,
                          text=True, timeout=60, cwd=ROOT,
                          env={k: v for k, v in os.environ.items() if k != "LSLAPICFG"})
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/net")
def test_the_stream_is_announced_on_this_machine_only_and_names_no_subject() -> None:
    seen = probe("machine", identify=False)
    discovery = [address for _, address in seen["sockets"] if address.endswith(":" + DISCOVERY_PORT)]
    assert discovery and all(address.startswith("0100007F:") for address in discovery)  # 127.0.0.1 only
    assert seen["source_id"] == "mespot"
    alert = json.loads(seen["sent"][0])
    assert "session_id" not in alert and alert["kind"] == "ME"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/net")
def test_the_configuration_can_open_the_stream_and_name_the_subject() -> None:
    seen = probe("network", identify=True)
    discovery = [address for _, address in seen["sockets"] if address.endswith(":" + DISCOVERY_PORT)]
    assert any(not address.startswith("0100007F:") for address in discovery)
    assert seen["source_id"] == "S01_1" and json.loads(seen["sent"][0])["session_id"] == "S01_1"
