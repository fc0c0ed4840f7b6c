"""Service settings, read once from the environment (the process contract)."""

from __future__ import annotations

import os
from dataclasses import dataclass

__all__ = ["Settings", "DEFAULT_PORTS"]

DEFAULT_PORTS = {"inventory": 5001, "monitor": 5004, "voter": 5005, "orders": 5006}


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    return float(raw) if raw else default


def _urls(raw: str) -> tuple[str, ...]:
    return tuple(u.strip().rstrip("/") for u in raw.split(",") if u.strip())


@dataclass(frozen=True)
class Settings:
    """Everything a stack service is configured with."""

    service: str
    host: str
    port: int
    database_url: str
    kafka_bootstrap_servers: str
    instance_id: str
    inventory_urls: tuple[str, ...]
    monitor_url: str
    chaos_token: str | None
    fault_default_ttl_s: float
    monitor_interval_s: float
    monitor_timeout_s: float
    voter_timeout_s: float
    kafka_tick_s: float
    kafka_results_tick_s: float
    kafka_outbox_rate: float

    @classmethod
    def from_env(cls, service: str) -> Settings:
        """Read the settings of ``service`` ("inventory", "orders", "monitor", "voter")."""
        env = os.environ
        instance_id = env.get("INSTANCE_ID", "1").strip() or "1"
        default_port = DEFAULT_PORTS[service]
        if service == "inventory":
            default_port += int(instance_id) - 1
        return cls(
            service=service,
            host=env.get("SERVICE_HOST", "127.0.0.1"),
            port=int(env.get("SERVICE_PORT") or default_port),
            database_url=env.get(
                "DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/experimento"
            ),
            kafka_bootstrap_servers=env.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
            instance_id=instance_id,
            inventory_urls=_urls(
                env.get(
                    "INVENTORY_URLS",
                    "http://127.0.0.1:5001,http://127.0.0.1:5002,http://127.0.0.1:5003",
                )
            ),
            monitor_url=env.get("MONITOR_URL", "http://127.0.0.1:5004").rstrip("/"),
            chaos_token=env.get("CHAOS_TOKEN") or None,
            fault_default_ttl_s=_float("FAULT_DEFAULT_TTL_S", 300.0),
            monitor_interval_s=_float("MONITOR_INTERVAL_S", 0.2),
            monitor_timeout_s=_float("MONITOR_TIMEOUT_S", 0.15),
            voter_timeout_s=_float("VOTER_TIMEOUT_S", 0.3),
            kafka_tick_s=_float("KAFKA_TICK_S", 0.1),
            kafka_results_tick_s=_float("KAFKA_RESULTS_TICK_S", 0.5),
            kafka_outbox_rate=_float("KAFKA_OUTBOX_RATE", 20.0),
        )

    def replica_ids(self) -> tuple[str, ...]:
        """Instance ids of the replicas in ``inventory_urls``: "1", "2", ..."""
        return tuple(str(i + 1) for i in range(len(self.inventory_urls)))
