import json

from agent.app.config import load_config
from agent.app.workers import process_count, worker_config


def _config(**sip):
    return load_config(overrides={"sip": sip}, environ={})


def test_process_count_covers_max_calls_at_four_per_process():
    # the front holds 3 (one slot kept for redirects), each worker 4
    assert process_count(_config(max_calls=4)) == 1
    assert process_count(_config(max_calls=5)) == 2
    assert process_count(_config(max_calls=7)) == 2
    assert process_count(_config(max_calls=8)) == 3
    assert process_count(_config(max_calls=11)) == 3


def test_workers_get_consecutive_sip_ports_and_disjoint_rtp_ranges():
    config = _config(port=5060, rtp_port=40000, rtp_port_range=2000, max_calls=11)
    n = process_count(config)
    parts = [worker_config(config, i, n).sip for i in range(n)]
    assert [p.port for p in parts] == [5060, 5061, 5062]
    ranges = [(p.rtp_port, p.rtp_port + p.rtp_port_range) for p in parts]
    assert all(a_end <= b_start for (_, a_end), (b_start, _) in zip(ranges, ranges[1:]))


def test_only_the_front_registers():
    config = load_config(overrides={"sip": {"max_calls": 8, "registration": {"registrar": "sip:pbx"}}}, environ={})
    assert worker_config(config, 0, 2).sip.registration.registrar == "sip:pbx"
    assert worker_config(config, 1, 2).sip.registration.registrar is None


def test_port_zero_stays_zero_for_every_worker():
    config = _config(port=0, rtp_port=0, max_calls=8)
    assert [worker_config(config, i, 3).sip.port for i in range(3)] == [0, 0, 0]


def test_workers_use_the_fronts_emotion_service():
    from agent.app.config import load_config
    from agent.app.workers import config_json
    from emotion.config import ServiceMode

    config = load_config(overrides={"emotion": {"service": {"token": "s3cret"}}}, environ={})
    url = "ws://127.0.0.1:8765/v0/stream/models"
    front, worker = worker_config(config, 0, 2, url), worker_config(config, 1, 2, url)
    assert front.emotion.service.mode is ServiceMode.IN_PROCESS
    assert worker.emotion.service.mode is ServiceMode.REMOTE and worker.emotion.service.url == url
    assert worker_config(config, 1, 2, None).emotion.service.mode is ServiceMode.OFF  # front has no service
    data = json.loads(config_json(worker))
    assert data["emotion"]["service"]["token"] == "s3cret"  # pydantic would write '**********'
    assert load_config(overrides=data, environ={}).emotion.service.token.get_secret_value() == "s3cret"


def test_the_handoff_carries_every_secret_over_the_pipe_and_round_trips():
    from agent.app.workers import WorkerHandoff
    from agent.services.model_host import ModelHostAddress

    config = load_config(overrides={"sip": {"max_calls": 8, "inbound_auth": {"username": "pbx", "password": "pw"},
                                            "registration": {"password": "regpw"}},
                                    "emotion": {"service": {"token": "tok"}}}, environ={})
    line = WorkerHandoff(worker_config(config, 1, 3), b"\x01" * 32).line()
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    data = json.loads(line)
    assert bytes.fromhex(data["ticket_key"]) == b"\x01" * 32
    again = load_config(overrides=data["config"], environ={})
    assert again.sip.inbound_auth.password.get_secret_value() == "pw"
    assert again.sip.registration.password.get_secret_value() == "regpw"
    assert again.emotion.service.token.get_secret_value() == "tok"
    assert again.sip.port == config.sip.port + 1
    assert "model_host" not in data  # the worker loads its own models
    address = ModelHostAddress("/run/x/models.sock", "/run/x/phrases.pcm", "t0ken")
    shared_line = WorkerHandoff(worker_config(config, 1, 3), b"\x01" * 32, address).line()
    assert ModelHostAddress.from_fields(json.loads(shared_line)["model_host"]) == address
    assert shared_line.count(b"\n") == 1


def test_redirect_promises_expire_and_arrivals_consume_them():
    import time

    from agent.app.workers import _Worker

    worker = _Worker(1, port=5061, active=1)
    now = time.monotonic()
    worker.promised.extend([now + 1, now + 5])
    assert worker.load(now) == 3
    assert worker.load(now + 2) == 2  # the first redirected caller never came: its slot is back
    assert worker.load(now + 6) == 1
