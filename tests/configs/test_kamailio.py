"""The shipped front configuration (configs/kamailio/) is valid Kamailio and agrees with the
docker-compose.yml that runs it: every node compose starts is in the dispatcher list with its
own sip.max_calls as maxload, may register (address list group 2), takes SIP only from the
front, and has a name, ports and RTP range no other node has. Kamailio checks the file itself
(``kamailio -c``, the Debian program); the behaviour is tested in tests/e2e/test_front.py."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from agent.app.config import BedsideConfig, load_config
from agent.app.workers import process_count

REPO = Path(__file__).resolve().parents[2]
KAMAILIO_DIR = REPO / "configs" / "kamailio"


def _kamailio_check(*defines: str, cfg_dir: Path = KAMAILIO_DIR) -> subprocess.CompletedProcess[str]:
    kamailio = shutil.which("kamailio")
    if kamailio is None:
        pytest.fail("kamailio is not installed (scripts/install.sh --tests installs it)")
    cmd = [kamailio, "-c", "-f", str(KAMAILIO_DIR / "kamailio.cfg"), "-A", f'CFG_DIR="{cfg_dir}"']
    for define in defines:
        cmd += ["-A", define]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize("defines", [(), ("WITH_TLS", 'NODE_PASSWORD="secret"'), ("FRONT_IP=0.0.0.0", "SIP_PORT=5070")])
def test_kamailio_accepts_the_shipped_config(defines: tuple[str, ...]) -> None:
    done = _kamailio_check(*defines)
    assert done.returncode == 0 and "config file ok" in done.stdout + done.stderr, done.stderr[-3000:]


def test_kamailio_rejects_a_broken_config(tmp_path: Path) -> None:
    broken = tmp_path / "kamailio.cfg"
    broken.write_text((KAMAILIO_DIR / "kamailio.cfg").read_text().replace("route(EDGE);", "route(EDGE)", 1))
    done = subprocess.run(["kamailio", "-c", "-f", str(broken)], capture_output=True, text=True, timeout=30)
    assert done.returncode != 0 and "parse error" in done.stderr


def _records(path: Path) -> list[list[str]]:
    return [line.split("#", 1)[0].split() for line in path.read_text().splitlines() if line.split("#", 1)[0].strip()]


def _compose_nodes() -> dict[str, BedsideConfig]:
    """Each compose service that runs ``bedside serve``, as the config it starts with (the YAML
    file its command names, then its environment; ${...} secrets as placeholders)."""
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    nodes = {}
    for name, service in compose["services"].items():
        command = service.get("command", [])
        if command[:1] != ["serve"]:
            continue
        env = {k: re.sub(r"\$\{[^}]*\}", "x", str(v)) for k, v in service["environment"].items()}
        nodes[name] = load_config(REPO / command[command.index("--config") + 1], environ=env)
    return nodes


def test_every_compose_node_is_dispatched_to_with_its_own_capacity() -> None:
    nodes = _compose_nodes()
    assert len(nodes) >= 2
    destinations = {}
    for setid, uri, _flags, _priority, attrs in _records(KAMAILIO_DIR / "dispatcher.list"):
        assert setid == "1"
        fields = dict(item.split("=", 1) for item in attrs.split(";"))
        destinations[uri] = fields
    groups = {(int(r[0]), r[1]) for r in _records(KAMAILIO_DIR / "address.list")}
    for name, config in nodes.items():
        uri = f"sip:{config.sip.host}:{config.sip.port}"
        assert uri in destinations, (name, uri, destinations)
        assert destinations[uri]["duid"] == config.node.name == name
        assert int(destinations[uri]["maxload"]) == config.sip.max_calls
        assert (2, config.sip.host) in groups, name  # may register and send in-dialog requests
        assert [str(n) for n in config.sip.allowed_sources] == ["127.0.0.1/32"], name  # the front only
        assert config.sip.registration.registrar == "sip:127.0.0.1:5060"


def test_compose_nodes_share_no_name_port_or_rtp_range() -> None:
    nodes = list(_compose_nodes().values())
    sip_ports, http_ports, rtp, names = [], [], [], []
    for config in nodes:
        processes = process_count(config)
        sip_ports += range(config.sip.port, config.sip.port + processes)  # the front and its SIP workers
        http_ports.append(config.console.port)
        rtp.append((config.sip.rtp_port, config.sip.rtp_port + config.sip.rtp_port_range))
        names.append(config.node.name)
    assert len(set(sip_ports)) == len(sip_ports) and 5060 not in sip_ports  # 5060 is the front's
    assert len(set(http_ports)) == len(http_ports) and len(set(names)) == len(names)
    rtp.sort()
    assert all(a_end <= b_start for (_, a_end), (b_start, _) in zip(rtp, rtp[1:], strict=False)), rtp
