"""The stack's tables, created idempotently under an advisory lock by every service."""

from __future__ import annotations

__all__ = ["DDL", "SEED_PRODUCTS", "SCHEMA_LOCK_ID"]

#: pg_advisory_xact_lock key: serialises DDL of services starting at the same time.
SCHEMA_LOCK_ID = 72_001_001

SEED_PRODUCTS = (("PROD-001", 1000), ("PROD-002", 500), ("PROD-003", 750))

DDL = (
    """CREATE TABLE IF NOT EXISTS products (
        product_id TEXT PRIMARY KEY,
        initial_quantity INTEGER NOT NULL CHECK (initial_quantity >= 0)
    )""",
    # One row per (replica, product): every replica keeps its own state.
    """CREATE TABLE IF NOT EXISTS inventory (
        instance_id TEXT NOT NULL,
        product_id TEXT NOT NULL REFERENCES products(product_id),
        available_quantity INTEGER NOT NULL,
        reserved_quantity INTEGER NOT NULL DEFAULT 0,
        updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        PRIMARY KEY (instance_id, product_id)
    )""",
    # Where each replica is in the order-event log, committed with the events it applied:
    # a read returns it with the rows in one snapshot (the voter's lag-aware re-ask).
    """CREATE TABLE IF NOT EXISTS replica_offsets (
        instance_id TEXT PRIMARY KEY,
        applied_offset BIGINT NOT NULL
    )""",
    # What each replica has applied: makes event processing idempotent.
    """CREATE TABLE IF NOT EXISTS processed_events (
        instance_id TEXT NOT NULL,
        order_id TEXT NOT NULL,
        action TEXT NOT NULL,
        product_id TEXT,
        quantity INTEGER,
        success BOOLEAN NOT NULL,
        processed_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        PRIMARY KEY (instance_id, order_id, action)
    )""",
    """CREATE TABLE IF NOT EXISTS orders (
        order_id TEXT PRIMARY KEY,
        product_id TEXT NOT NULL,
        quantity INTEGER NOT NULL,
        status TEXT NOT NULL,
        created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
    )""",
    # Events written with their order, in the same transaction; published then deleted by
    # the relay (stack.orders.outbox).
    """CREATE TABLE IF NOT EXISTS order_outbox (
        id BIGSERIAL PRIMARY KEY,
        order_id TEXT NOT NULL,
        payload TEXT NOT NULL,
        created_at TIMESTAMPTZ NOT NULL DEFAULT now()
    )""",
    """CREATE TABLE IF NOT EXISTS order_results (
        order_id TEXT NOT NULL,
        instance_id TEXT NOT NULL,
        action TEXT NOT NULL,
        success BOOLEAN NOT NULL,
        received_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        PRIMARY KEY (order_id, instance_id, action)
    )""",
    """CREATE TABLE IF NOT EXISTS instance_status (
        service_name TEXT NOT NULL,
        instance_id TEXT NOT NULL,
        status TEXT NOT NULL,
        last_health_check TIMESTAMPTZ,
        updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        PRIMARY KEY (service_name, instance_id)
    )""",
    """CREATE TABLE IF NOT EXISTS failure_audit (
        id BIGSERIAL PRIMARY KEY,
        service_name TEXT NOT NULL,
        instance_id TEXT NOT NULL,
        failure_type TEXT NOT NULL,
        failure_started_at TIMESTAMPTZ,
        detected_at TIMESTAMPTZ NOT NULL,
        resolved_at TIMESTAMPTZ,
        ttd_ms DOUBLE PRECISION,
        ttr_ms DOUBLE PRECISION
    )""",
    """CREATE TABLE IF NOT EXISTS status_transitions (
        id BIGSERIAL PRIMARY KEY,
        service_name TEXT NOT NULL,
        instance_id TEXT NOT NULL,
        status TEXT NOT NULL,
        at TIMESTAMPTZ NOT NULL,
        reason TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS status_transitions_at ON status_transitions (at)",
    """CREATE TABLE IF NOT EXISTS request_metrics (
        id BIGSERIAL PRIMARY KEY,
        service_name TEXT NOT NULL,
        endpoint TEXT NOT NULL,
        method TEXT NOT NULL,
        status_code INTEGER NOT NULL,
        latency_ms DOUBLE PRECISION NOT NULL,
        at TIMESTAMPTZ NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS request_metrics_at ON request_metrics (at)",
    """CREATE TABLE IF NOT EXISTS voting_events (
        id BIGSERIAL PRIMARY KEY,
        request_id TEXT NOT NULL,
        product_id TEXT,
        quorum_achieved BOOLEAN NOT NULL,
        successful_responses INTEGER NOT NULL,
        failed_responses INTEGER NOT NULL,
        outliers TEXT,
        total_time_ms DOUBLE PRECISION NOT NULL,
        at TIMESTAMPTZ NOT NULL
    )""",
)
