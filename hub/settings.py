"""Configuration, read from ``HUB_*`` environment variables (pydantic-settings).

The defaults give the embedded deployment: SQLite in WAL mode for the store and kombu's
SQLAlchemy transport on a second SQLite file for the broker, both under ``HUB_DATA_DIR``.
Point ``HUB_DATABASE_URL`` at PostgreSQL and ``HUB_BROKER_URL`` at RabbitMQ to scale out.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HUB_", extra="ignore")

    data_dir: Path = Field(Path("var"), description="Where the embedded store, broker and key live.")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL of the store; default sqlite in data_dir."
    )
    broker_url: str | None = Field(
        None, description="kombu URL of the broker; default SQLAlchemy transport in data_dir."
    )
    queue_prefix: str = Field("hub", description="Prefix of every exchange and queue name.")
    mappings_dir: Path | None = Field(
        None, description="The authority's mapping override layer (specs/ and code_lists/)."
    )
    encryption_keys: str | None = Field(
        None,
        description="Comma-separated 'key_id:base64key' (32-byte AES keys); the first encrypts.",
    )
    max_body_bytes: int = Field(1_048_576, description="Largest inbound message accepted.")
    delivery_max_attempts: int = Field(5, ge=1, description="Attempts before a dead letter.")
    delivery_backoff_initial: float = Field(0.5, gt=0, description="First retry wait, seconds.")
    delivery_backoff_max: float = Field(30.0, gt=0, description="Longest retry wait, seconds.")
    delivery_timeout: float = Field(10.0, gt=0, description="HTTP timeout per delivery attempt.")
    relay_interval: float = Field(1.0, gt=0, description="Seconds between outbox relay sweeps.")
    delivery_lease: float = Field(
        60.0, gt=0, description="Seconds a worker holds a delivery it is sending (renewed before each "
        "attempt, never less than one attempt and its wait); past that another worker takes it over.",
    )
    processing_lease: float = Field(
        60.0, gt=0, description="Seconds before an inbound message not yet processed, or a delivery "
        "not yet picked up, is announced on the broker again.",
    )
    processing_max_attempts: int = Field(
        5, ge=1, description="Processing attempts before an inbound message is set aside as poison.",
    )
    breaker_failures: int = Field(
        5, ge=1, description="Consecutive failed attempts that open a destination's circuit breaker.",
    )
    breaker_reset: float = Field(
        30.0, gt=0, description="Seconds a destination's open circuit breaker waits before one trial.",
    )
    operator_token: str | None = Field(
        None, description="Bearer token for operators on the status and admin endpoints."
    )
    duty_team_id: str = Field("CSC-DUTY", description="The social care duty team's practitioner id.")
    duty_team_name: str = Field(
        "Children's social care duty team", description="Who joins a TAC until a social worker is "
        "allocated, and the contact the directory shows."
    )
    duty_team_phone: str | None = Field(None, description="The duty team's phone number.")
    duty_team_email: str | None = Field(None, description="The duty team's email address.")
    step_up_episode: str = Field(
        "transfer-responsibility", pattern="^(transfer-responsibility|close)$",
        description="On step-up, mark the CAF episode as social care's responsibility, or close "
        "it with reason 'transfer to alternative holistic assessment'.",
    )
    host: str = "127.0.0.1"
    port: int = 8000
    api_processes: int = Field(
        1, ge=1, description="Processes `hub serve` runs the API in (one core each); above 1 the "
        "in-process workers run in a process of their own beside them.",
    )

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'hub.db').resolve()}"

    @property
    def resolved_broker_url(self) -> str:
        return self.broker_url or f"sqla+sqlite:///{(self.data_dir / 'broker.db').resolve()}"

    @property
    def key_file(self) -> Path:
        return self.data_dir / "keys" / "hub.keys"

    @property
    def is_embedded_broker(self) -> bool:
        return self.resolved_broker_url.startswith("sqla+")
