"""The records HTTP API served for real (uvicorn on 127.0.0.1, a free port) and called over HTTP:
bearer tokens or 401, the staff name behind the token in every audit row, 404 / 409 / 400 / 503
with a JSON detail, pages and a streamed export, and the committed OpenAPI document equal to the
one the app generates."""

from __future__ import annotations

import csv
import io
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx2
import pytest
import uvicorn
from fastapi import FastAPI
from pydantic import SecretStr

from agent.app.console.app import listening_socket
from agent.app.records_api import check_exposure, create_app, openapi_json
from agent.services.records import queries
from agent.services.records.config import ApiConfig, RecordsConfig
from agent.services.records.crypto import KeyRing, new_key
from agent.services.records.ids import work_item_id
from agent.services.records.store import RecordStore, head_revision
from tests.agent.services.records.test_queries import PATIENT, SAID, add_call, caller_of, make_store

REPO = Path(__file__).resolve().parents[3]
JO, KIM = "jo-" + "a" * 29, "kim-" + "b" * 28
RECENT = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)


@dataclass
class Api:
    client: httpx2.Client
    store: RecordStore

    def get(self, path: str, token: str | None = JO, **params: object) -> httpx2.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return self.client.get(f"/api/v1{path}", params=params, headers=headers)

    def post(self, path: str, token: str | None = JO) -> httpx2.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return self.client.post(f"/api/v1{path}", headers=headers)

    def audited(self) -> list[tuple[str, str, str, str | None]]:
        return [(e.actor, e.via, e.what, e.call_id) for e in reversed(queries.audit_entries(self.store))]


def config(tmp_path: Path) -> RecordsConfig:
    return RecordsConfig(data_dir=tmp_path, api=ApiConfig(tokens={"nurse jo": SecretStr(JO), "dr kim": SecretStr(KIM)}))


@pytest.fixture
def served() -> Iterator[Callable[[FastAPI], str]]:
    """Serve an app in a thread on a free loopback port; yields a function app -> base URL."""
    servers: list[tuple[uvicorn.Server, threading.Thread]] = []

    def serve(app: FastAPI) -> str:
        sock = listening_socket("127.0.0.1", 0)  # TCP_NODELAY on its connections, as the console serves
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
            time.sleep(0.01)
        servers.append((server, thread))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"

    yield serve
    for server, thread in servers:
        server.should_exit = True
        thread.join(10)


@pytest.fixture
def api(tmp_path: Path, served: Callable[[FastAPI], str]) -> Iterator[Api]:
    store = make_store(tmp_path)
    add_call(store, "call-old", RECENT - timedelta(days=3))
    add_call(store, "call-urgent", RECENT, urgent=True, webhook=True)
    add_call(store, "call-plain", RECENT + timedelta(hours=1), callback=False)
    with httpx2.Client(base_url=served(create_app(config(tmp_path), store)), timeout=10) as client:
        yield Api(client, store)
    store.dispose()


def test_health_needs_no_token_and_says_nothing_private(api: Api) -> None:
    response = api.get("/health", token=None)
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "schema_revision": head_revision(), "schema_current": True, "detail": None}


@pytest.mark.parametrize("endpoint", [
    ("GET", "/calls"), ("GET", "/calls/call-old"), ("GET", "/calls/call-old/similar"), ("GET", "/work-items"),
    ("GET", "/export?since=7d"),
    ("POST", f"/work-items/{work_item_id('call-old', 3)}/done"),
    ("POST", f"/work-items/{work_item_id('call-old', 3)}/cancel"),
])
def test_no_token_or_a_wrong_one_is_401(api: Api, endpoint: tuple[str, str]) -> None:
    method, path = endpoint
    for headers in ({}, {"Authorization": "Bearer " + JO[:-1] + "x"}, {"Authorization": f"Basic {JO}"},
                    {"Authorization": "Bearer"}, {"Authorization": f"Bearer {JO}{JO}"}):
        response = api.client.request(method, f"/api/v1{path}", headers=headers)
        assert response.status_code == 401, headers
        assert response.json() == {"detail": "a valid bearer token is required"}
        assert response.headers["www-authenticate"] == "Bearer"
    assert api.audited() == []
    assert queries.work_item(api.store, work_item_id("call-old", 3)).state == "open"


def test_calls_page_and_detail_audited_under_the_token_name(api: Api) -> None:
    first = api.get("/calls", token=KIM, limit=2)
    assert first.status_code == 200
    page = first.json()
    assert [c["id"] for c in page["calls"]] == ["call-plain", "call-urgent"]
    assert set(page["calls"][0]) == {"id", "started_at", "ended_at", "status", "end_reason", "turns", "urgent",
                                     "handed_off", "graph_version", "open_items"}
    rest = api.get("/calls", token=KIM, limit=2, cursor=page["next_cursor"]).json()
    assert [c["id"] for c in rest["calls"]] == ["call-old"] and rest["next_cursor"] is None
    assert [c["id"] for c in api.get("/calls", urgent="true", since="2d").json()["calls"]] == ["call-urgent"]
    assert "sip:" not in first.text and PATIENT not in first.text

    detail = api.get("/calls/call-urgent").json()
    assert detail["caller"] == caller_of("call-urgent") and detail["transcripts"][0]["text"] == SAID
    assert detail["work_items"][0]["slots"]["name"] == PATIENT
    assert detail["deliveries"][0]["destination"] == "https://ehr.example:8443/hooks/booked"
    assert detail["emotion"]["bursts"][0]["burst"] == "sigh" and detail["started_at"].endswith("Z")
    assert api.audited() == [("dr kim", "api", "list", None), ("dr kim", "api", "list", None),
                             ("nurse jo", "api", "list", None), ("nurse jo", "api", "show", "call-urgent")]


def test_worklist_and_closing_an_item_once(api: Api) -> None:
    items = api.get("/work-items").json()["items"]
    assert [i["call_id"] for i in items] == ["call-old", "call-urgent"]
    assert items[0]["caller"] == caller_of("call-old") and items[0]["slots"]["name"] == PATIENT
    item = items[0]["id"]
    done = api.post(f"/work-items/{item}/done", token=KIM)
    assert done.status_code == 200
    assert (done.json()["state"], done.json()["closed_by"]) == ("done", "dr kim")
    again = api.post(f"/work-items/{item}/cancel")
    assert again.status_code == 409 and again.json()["detail"].startswith(f"work item {item} is already done (by dr kim")
    assert api.post("/work-items/00000000-0000-0000-0000-000000000000/done").status_code == 404
    assert [i["call_id"] for i in api.get("/work-items").json()["items"]] == ["call-urgent"]
    every = api.get("/work-items", state="all").json()["items"]
    assert [(i["call_id"], i["state"]) for i in every] == [("call-urgent", "open"), ("call-old", "done")]
    assert ("dr kim", "api", "done", "call-old") in api.audited()
    assert [a for a in api.audited() if a[2] == "cancel"] == []  # a refused close changes and audits nothing


def test_errors_are_json_with_the_right_status(api: Api) -> None:
    missing = api.get("/calls/no-such-call")
    assert missing.status_code == 404 and "no call no-such-call" in missing.json()["detail"]
    assert api.get("/calls", since="yesterday-ish").status_code == 400
    assert api.get("/calls", cursor="garbage").json() == {"detail": "not a cursor this API gave out"}
    assert api.get("/calls", limit=0).status_code == 422
    assert api.get("/work-items", state="closed").status_code == 422
    assert api.get("/export").status_code == 422  # since is required


def test_export_streams_jsonl_and_csv(api: Api) -> None:
    jsonl = api.get("/export", since=(RECENT - timedelta(days=1)).isoformat())
    assert jsonl.status_code == 200 and jsonl.headers["content-type"].startswith("application/x-ndjson")
    rows = [json.loads(line) for line in jsonl.text.splitlines()]
    assert [r["id"] for r in rows] == ["call-urgent", "call-plain"] and tuple(rows[0]) == queries.EXPORT_FIELDS
    with api.client.stream("GET", "/api/v1/export", params={"since": "30d", "format": "csv"},
                           headers={"Authorization": f"Bearer {KIM}"}) as response:
        assert response.headers["content-type"].startswith("text/csv")
        assert "attachment" in response.headers["content-disposition"]
        text = "".join(response.iter_text())
    table = list(csv.reader(io.StringIO(text)))
    assert table[0] == list(queries.EXPORT_FIELDS) and len(table) == 4
    assert "sip:" not in text + jsonl.text and PATIENT not in text + jsonl.text
    assert [a[:3] for a in api.audited()] == [("nurse jo", "api", "export"), ("dr kim", "api", "export")]


def test_a_store_that_is_down_is_503(tmp_path: Path, served: Callable[[FastAPI], str]) -> None:
    broken = RecordStore(f"sqlite:///{tmp_path}", KeyRing.of([new_key()], "test"))  # a directory, not a database
    with httpx2.Client(base_url=served(create_app(config(tmp_path), broken))) as client:
        health = client.get("/api/v1/health")
        assert health.status_code == 503 and health.json()["status"] == "unavailable"
        for path in ("/api/v1/calls", "/api/v1/calls/x", "/api/v1/calls/x/similar", "/api/v1/work-items",
                     "/api/v1/export?since=1d"):
            response = client.get(path, headers={"Authorization": f"Bearer {JO}"})
            assert response.status_code == 503, path
            assert response.json()["detail"].startswith("records store unavailable: ")


def test_exposure_rules() -> None:
    tokens = {"jo": SecretStr(JO)}
    check_exposure(RecordsConfig(api=ApiConfig(tokens=tokens)), certfile=None)
    check_exposure(RecordsConfig(api=ApiConfig(host="::1", tokens=tokens)), certfile=None)
    check_exposure(RecordsConfig(api=ApiConfig(host="0.0.0.0", tokens=tokens)), certfile="cert.pem")
    with pytest.raises(ValueError, match="not loopback"):
        check_exposure(RecordsConfig(api=ApiConfig(host="clinic.lan", tokens=tokens)), certfile=None)
    with pytest.raises(ValueError, match="share a token"):
        check_exposure(RecordsConfig(api=ApiConfig(tokens={"jo": SecretStr(JO), "kim": SecretStr(JO)})), None)


def test_openapi_document_is_committed_and_served(api: Api, capsys: pytest.CaptureFixture[str]) -> None:
    from agent.app.cli import main

    committed = (REPO / "docs" / "records-openapi.json").read_text()
    assert committed == openapi_json(), "docs/records-openapi.json is stale: bedside records api --openapi > it"
    assert api.get("/openapi.json", token=None).json() == json.loads(committed)
    assert main(["records", "api", "--openapi"]) == 0
    assert capsys.readouterr().out == committed
    document = json.loads(committed)
    assert document["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert {"/api/v1/calls", "/api/v1/calls/{call_id}", "/api/v1/calls/{call_id}/similar", "/api/v1/work-items",
            "/api/v1/work-items/{item_id}/done", "/api/v1/work-items/{item_id}/cancel", "/api/v1/export",
            "/api/v1/health"} == set(document["paths"])
    similar = document["paths"]["/api/v1/calls/{call_id}/similar"]["get"]
    assert similar["responses"]["200"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/SimilarResult"}
    assert {"400", "401", "404", "503"} <= set(similar["responses"])
    assert "security" not in document["paths"]["/api/v1/health"]["get"]
    assert JO not in committed


def test_similar_calls_audited_under_the_token_name(api: Api) -> None:
    from tests.agent.services.records.test_similar_calls import T0, clinic

    clinic(api.store)
    response = api.get("/calls/query/similar", token=KIM, k=3)
    assert response.status_code == 200
    result = response.json()
    assert (result["query_call_id"], result["query_segments"], result["k"]) == ("query", 5, 3)
    assert [c["call_id"] for c in result["calls"]] == ["copy", "two-manners", "one-manner"]
    best = result["calls"][0]
    assert set(best) == {"call_id", "started_at", "status", "urgent", "end_reason", "score", "moments"}
    assert best["urgent"] is True and best["score"] > 0.99 and best["started_at"].endswith("Z")
    assert {"query_begin_s", "begin_s", "similarity", "valence", "arousal", "burst"} <= set(best["moments"][0])
    assert "sip:" not in response.text and PATIENT not in response.text

    since = (T0 + timedelta(hours=2)).isoformat()
    later = api.get("/calls/query/similar", since=since).json()
    assert {c["call_id"] for c in later["calls"]} == {"one-manner", "two-manners", "unlike"}
    assert later["since"] == since.replace("+00:00", "Z")

    missing = api.get("/calls/no-such-call/similar")
    assert missing.status_code == 404 and "no call no-such-call" in missing.json()["detail"]
    silent = api.get("/calls/call-old/similar")  # its test embeddings are not 64-d vectors: nothing to compare
    assert silent.status_code == 400 and "has no audio embeddings" in silent.json()["detail"]
    assert api.get("/calls/query/similar", k=0).status_code == 422
    assert api.get("/calls/query/similar", since="whenever").status_code == 400
    assert [a for a in api.audited() if a[2] == "similar"] == [
        ("dr kim", "api", "similar", "query"), ("nurse jo", "api", "similar", "query"),
        ("nurse jo", "api", "similar", "no-such-call"), ("nurse jo", "api", "similar", "call-old"),
    ]
    assert (api.store.url.database and Path(api.store.url.database).with_name("similar.index").is_file())
