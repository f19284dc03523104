"""``records.*``: where calls are kept, for how long, and how PHI is encrypted (docs/records.md)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr

KEYS_ENV = "BEDSIDE_RECORDS_KEYS"  # comma-separated base64 keys, the current one first


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OutboxConfig(_Strict):
    first_retry_s: float = Field(2.0, gt=0, description="webhook outbox: wait before the first retry; doubles per attempt")
    max_retry_s: float = Field(300.0, gt=0, description="webhook outbox: the longest wait between two attempts")
    jitter: float = Field(0.2, ge=0, le=1, description="webhook outbox: each wait is randomised by up to this fraction")
    expire_after_s: float = Field(
        86400.0, gt=0, description="webhook outbox: a delivery still failing after this long gives up and becomes a work item",
    )
    poll_s: float = Field(1.0, gt=0, description="webhook outbox: how often due deliveries are looked for")
    lease_s: float = Field(60.0, gt=0, description="webhook outbox: a claimed delivery is another process's to retry after this")


class ApiConfig(_Strict):
    host: str = Field("127.0.0.1", description="records HTTP API (`bedside records api`): address to listen on")
    port: int = Field(8470, ge=1, le=65535, description="records HTTP API: TCP port")
    tokens: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="records HTTP API: staff name -> bearer token (>= 24 chars); every read is audited under the name",
    )


class RecordsConfig(_Strict):
    enabled: bool = Field(True, description="keep every call in the records store (off: nothing is kept, webhooks are sent once)")
    data_dir: Path = Field(Path("var"), description="the records data directory: SQLite file, key file, spool, search index")
    url: str | None = Field(
        None, description="database URL: unset = SQLite at data_dir/records.sqlite3; postgresql://user@host/db for PostgreSQL",
    )
    key_file: Path | None = Field(
        None,
        description=f"PHI encryption keys, one base64 key per line, current first (unset: data_dir/records.key, "
        f"created on first start); ${KEYS_ENV} takes precedence",
    )
    spool_dir: Path | None = Field(
        None,
        description="where records wait while the store is down (unset: data_dir/spool); put it on another disk than the database",
    )
    retention_days: int = Field(90, ge=1, le=3650, description="calls older than this are deleted by `bedside records purge`")
    keep_transcripts: bool = Field(False, description="QA only: keep what callers said, encrypted (off: no words are kept)")
    migrate_on_start: bool = Field(True, description="`bedside serve` brings the schema up to date before answering calls")
    queue_size: int = Field(10000, ge=100, description="entries waiting for the writer (it commits whatever has queued, at once); beyond this they go straight to the spool")
    retry_s: float = Field(5.0, gt=0, description="while the store is unreachable, how often the writer tries it again")
    spool_max_mb: int = Field(512, ge=1, description="largest spool (records kept while the store is down) before calls' records are refused loudly")
    outbox: OutboxConfig = Field(default_factory=OutboxConfig)
    api: ApiConfig = Field(default_factory=ApiConfig)

    def notice(self) -> str:
        """What callers are told is kept (the graph's ``{records.notice}``): generated from these
        settings, so the greeting cannot drift from what the store does."""
        if not self.enabled:
            return "Nothing from this call is kept once it ends."
        days = f"{self.retention_days} days"
        if self.keep_transcripts:
            return (f"I don't record your voice. To look after you, and to check how well I'm doing, we keep a written "
                    f"record of what you say, what you ask us to do, and how the call went, including how you sounded, "
                    f"for {days}.")
        return (f"I don't record your voice or keep your words. To look after you, we keep a note of what you ask us "
                f"to do and how the call went, including how you sounded, for {days}.")

    def database_url(self) -> str:
        """The SQLAlchemy URL: ``postgresql://`` means psycopg 3."""
        if self.url is None:
            return f"sqlite:///{(self.data_dir / 'records.sqlite3').resolve()}"
        if self.url.startswith("postgresql://") or self.url.startswith("postgres://"):
            return "postgresql+psycopg://" + self.url.split("://", 1)[1]
        return self.url

    def key_path(self) -> Path:
        return self.key_file if self.key_file is not None else self.data_dir / "records.key"

    def spool_path(self) -> Path:
        return self.spool_dir if self.spool_dir is not None else self.data_dir / "spool"

    def index_path(self) -> Path:
        return self.data_dir / "similar.index"
