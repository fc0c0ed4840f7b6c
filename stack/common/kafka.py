"""Kafka plumbing: topics (one partition each), JSON producer, resumable consumers."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

__all__ = [
    "ORDER_EVENTS",
    "INVENTORY_RESULTS",
    "ERROR_QUEUE",
    "TOPICS",
    "ensure_topics",
    "start_producer",
    "start_consumer",
    "encode",
    "decode",
]

log = logging.getLogger("stack.kafka")

ORDER_EVENTS = "order-events"
INVENTORY_RESULTS = "inventory-results"
ERROR_QUEUE = "error-queue"
TOPICS = (ORDER_EVENTS, INVENTORY_RESULTS, ERROR_QUEUE)

_TOPIC_ALREADY_EXISTS = 36


def encode(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


def decode(raw: bytes | None) -> dict[str, Any] | None:
    """The JSON object in ``raw``, or None when it is not one (a poison message)."""
    try:
        value = json.loads(raw or b"")
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


async def _retry(what: str, make, wait_s: float):
    deadline = asyncio.get_running_loop().time() + wait_s
    while True:
        try:
            return await make()
        except Exception as exc:  # broker not up yet: KafkaConnectionError and friends
            if asyncio.get_running_loop().time() > deadline:
                raise RuntimeError(f"{what}: Kafka did not answer: {exc}") from exc
            log.warning("%s: waiting for Kafka: %s", what, exc)
            await asyncio.sleep(0.5)


async def ensure_topics(bootstrap: str, *, wait_s: float = 60.0) -> None:
    """Create the stack's topics with one partition; "already exists" is success."""

    async def create() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
        await admin.start()
        try:
            response = await admin.create_topics(
                [NewTopic(name, num_partitions=1, replication_factor=1) for name in TOPICS]
            )
            for topic, code, message in getattr(response, "topic_errors", ()):
                if code not in (0, _TOPIC_ALREADY_EXISTS):
                    raise RuntimeError(f"creating topic {topic!r} failed: {code} {message}")
        except Exception as exc:
            if "TopicAlreadyExists" not in type(exc).__name__:
                raise
        finally:
            await admin.close()

    await _retry("create topics", create, wait_s)


async def start_producer(bootstrap: str, *, wait_s: float = 60.0) -> AIOKafkaProducer:
    async def start() -> AIOKafkaProducer:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0)
        try:
            await producer.start()
        except Exception:
            await producer.stop()
            raise
        return producer

    return await _retry("producer", start, wait_s)


async def start_consumer(
    bootstrap: str, topic: str, group_id: str, *, wait_s: float = 60.0
) -> tuple[AIOKafkaConsumer, TopicPartition]:
    """A consumer of ``topic``'s one partition that resumes from ``group_id``'s committed offset.

    The partition is assigned directly (no group membership): a replica killed with SIGKILL
    restarts and resumes at once instead of waiting for the broker to expire its old member.
    Offsets are still committed to ``group_id`` (manual commits, ``earliest`` when none).
    """

    async def start() -> tuple[AIOKafkaConsumer, TopicPartition]:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            group_id=group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=50,
        )
        try:
            await consumer.start()
        except Exception:
            await consumer.stop()
            raise
        partition = TopicPartition(topic, 0)
        consumer.assign([partition])
        return consumer, partition

    return await _retry(f"consumer {group_id}", start, wait_s)
