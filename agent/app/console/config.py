"""``console.*`` settings: where the QA console listens, how long a sign-in lasts, and what its
softphone page shows."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ConsoleConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(False, description="serve the QA console from `bedside serve` too (`bedside console` serves it alone)")
    host: str = Field("127.0.0.1", description="QA console (`bedside console`): address to listen on (beyond loopback only with TLS)")
    port: int = Field(8080, ge=1, le=65535, description="QA console: TCP port")
    certfile: str | None = Field(None, description="TLS certificate (PEM) for the console; required beyond loopback")
    keyfile: str | None = Field(None, description="TLS private key (PEM) for the console")
    session_idle_minutes: int = Field(30, ge=1, le=24 * 60, description="a console session ends after this long without a request")
    session_hours: int = Field(12, ge=1, le=7 * 24, description="... and this long after sign-in, whatever the activity")
    captions: bool = Field(
        False, description="the softphone page shows the caller's words as the agent transcribes them (live only: the "
        "records store keeps words only with records.keep_transcripts)",
    )
