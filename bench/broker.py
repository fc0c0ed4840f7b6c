"""The local broker's cost as its log grows: why the stack's CPU climbed during a long run.

The local target's Kafka-protocol broker is Tansu with its memory storage engine. This
step starts brokers on free ports (nothing else shares them) and, for each size of a
topic's one partition (0, then ``step`` more 200-byte records each time), measures the
broker's CPU while a producer sends ``rate`` records/s and one consumer follows the tail
(``fetch_max_wait_ms`` as the stack's consumers use): the work of a replica following
``order-events``. One broker holds each record in a batch of its own (what a producer
sending each record as it comes stores), the other the same records in large batches:
the cost follows the number of stored batches, not their bytes. Records never leave the
memory engine (it honours no retention, and answers DeleteRecords by closing the
connection), so in a GameDay every batch the stack produces stays.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from typing import Any

import psutil
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bench.common import free_port, loadavg
from gameday.targets.localplan import broker_bin

__all__ = ["run"]

RECORD = b"x" * 200


async def _follow(broker: psutil.Process, bootstrap: str, producer: AIOKafkaProducer,
                  topic: str, seconds: float, rate: float, wait_ms: int) -> dict[str, Any]:
    """Broker CPU (% of a core) while ``rate`` records/s go in and one consumer follows."""
    tp = TopicPartition(topic, 0)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                fetch_max_wait_ms=wait_ms)
    await consumer.start()
    consumer.assign([tp])
    await consumer.seek_to_end(tp)
    stop = asyncio.Event()

    async def produce() -> None:
        while not stop.is_set():
            await producer.send(topic, RECORD)
            await asyncio.sleep(1.0 / rate)

    task = asyncio.create_task(produce())
    before, got = sum(broker.cpu_times()[:2]), 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        batch = await consumer.getmany(tp, timeout_ms=200)
        got += sum(len(v) for v in batch.values())
    cpu = (sum(broker.cpu_times()[:2]) - before) / seconds * 100
    stop.set()
    await task
    await consumer.stop()
    return {"cpu_pct": round(cpu, 1), "records_followed": got}


async def _series(one_per_batch: bool, sizes: int, step: int, seconds: float, rate: float,
                  wait_ms: int, progress: Any) -> list[dict[str, Any]]:
    """Follow-the-tail CPU of a fresh broker as ``step`` records at a time are added."""
    port = free_port()
    bootstrap = f"127.0.0.1:{port}"
    proc = subprocess.Popen(
        [broker_bin(), "broker", "--listener-url", f"tcp://{bootstrap}",
         "--advertised-listener-url", f"tcp://{bootstrap}", "--storage-engine",
         "memory://tansu/"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    broker = psutil.Process(proc.pid)
    mode = "one record per batch" if one_per_batch else "large batches"
    rows = []
    try:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        for _ in range(50):
            try:
                await admin.start()
                break
            except Exception:  # noqa: BLE001 - the broker is still starting
                await asyncio.sleep(0.1)
        await admin.create_topics([NewTopic("grows", 1, 1)])
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0)
        await producer.start()
        for i in range(sizes):
            size = i * step
            follow = await _follow(broker, bootstrap, producer, "grows", seconds, rate, wait_ms)
            rows.append({"records_in_partition": size, "mode": mode, **follow,
                         "broker_rss_mib": broker.memory_info().rss >> 20,
                         "loadavg": loadavg()})
            progress(f"  {size:>7,} records, {mode}: broker CPU {follow['cpu_pct']:.0f} % "
                     f"following it (load {rows[-1]['loadavg'][0]})")
            if one_per_batch:  # each acknowledged before the next: a batch each
                for _ in range(step):
                    await (await producer.send("grows", RECORD))
            else:
                await asyncio.gather(*[await producer.send("grows", RECORD)
                                       for _ in range(step)])
        await producer.stop()
        await admin.close()
    finally:
        proc.kill()
        proc.wait()
    return rows


async def _run(sizes: int, step: int, seconds: float, rate: float, wait_ms: int,
               progress: Any) -> dict[str, Any]:
    single = await _series(True, sizes, step, seconds, rate, wait_ms, progress)
    batched = await _series(False, sizes, step, seconds, rate, wait_ms, progress)
    return {"method": __doc__.split("\n\n")[1].replace("\n", " "), "rate": rate,
            "fetch_max_wait_ms": wait_ms, "seconds_per_point": seconds,
            "one_record_per_batch": single, "large_batches": batched}


def run(*, sizes: int = 3, step: int = 10_000, seconds: float = 5.0, rate: float = 100.0,
        wait_ms: int = 50, progress: Any = print) -> dict[str, Any]:
    """The figures of the module docstring (about a minute)."""
    return asyncio.run(_run(sizes, step, seconds, rate, wait_ms, progress))
