"""The HTTP API (FastAPI): inbound endpoints per registered system, message status, health, metrics."""
