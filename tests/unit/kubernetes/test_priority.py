"""Creation first: other writes wait while new executions' Jobs are being created, never longer than max_wait."""

from __future__ import annotations

import asyncio

from diagnostic_operator.transports.kubernetes.priority import CreationFirst


def test_nothing_waits_when_no_creation_is_in_flight() -> None:
    async def main() -> float:
        return await CreationFirst(max_wait=5).wait()

    assert asyncio.run(main()) == 0.0


def test_a_write_waits_for_the_creations_in_flight_then_goes() -> None:
    order: list[str] = []

    async def create(gate: CreationFirst, name: str, seconds: float) -> None:
        async with gate.creation():
            await asyncio.sleep(seconds)
            order.append(name)

    async def write(gate: CreationFirst) -> float:
        waited = await gate.wait()
        order.append("write")
        return waited

    async def main() -> float:
        gate = CreationFirst(max_wait=5)
        creations = [asyncio.create_task(create(gate, f"job{i}", 0.05 * (i + 1))) for i in range(3)]
        await asyncio.sleep(0)  # the creations have begun
        assert gate.creating == 3
        waited = await write(gate)
        await asyncio.gather(*creations)
        assert gate.creating == 0
        return waited

    waited = asyncio.run(main())
    assert order == ["job0", "job1", "job2", "write"]
    assert 0.1 <= waited < 1.0


def test_a_stream_of_creations_delays_a_write_by_max_wait_at_most() -> None:
    async def main() -> tuple[float, int]:
        gate = CreationFirst(max_wait=0.2)
        stop = asyncio.Event()

        async def endless() -> None:
            while not stop.is_set():
                async with gate.creation():
                    await asyncio.sleep(0.01)

        streams = [asyncio.create_task(endless()) for _ in range(2)]
        await asyncio.sleep(0.02)
        waited = await gate.wait()
        in_flight = gate.creating
        stop.set()
        await asyncio.gather(*streams)
        return waited, in_flight

    waited, in_flight = asyncio.run(main())
    assert 0.19 <= waited < 0.5
    assert in_flight > 0, "the creations were still going on: the write went because of max_wait"


def test_a_failed_creation_does_not_keep_the_gate_closed() -> None:
    async def main() -> float:
        gate = CreationFirst(max_wait=5)
        try:
            async with gate.creation():
                raise RuntimeError("the API server said no")
        except RuntimeError:
            pass
        return await gate.wait()

    assert asyncio.run(main()) == 0.0


def test_other_writes_hold_one_of_the_slots() -> None:
    async def main() -> int:
        gate = CreationFirst(max_wait=5, slots=2)
        inside = 0
        most = 0

        async def write() -> None:
            nonlocal inside, most
            async with gate.other():
                inside += 1
                most = max(most, inside)
                await asyncio.sleep(0.02)
                inside -= 1

        await asyncio.gather(*[write() for _ in range(7)])
        return most

    assert asyncio.run(main()) == 2


def test_other_writes_wait_for_the_gate_first() -> None:
    order: list[str] = []

    async def main() -> None:
        gate = CreationFirst(max_wait=5, slots=4)

        async def create() -> None:
            async with gate.creation():
                await asyncio.sleep(0.05)
                order.append("job")

        async def write() -> None:
            async with gate.other():
                order.append("status")

        task = asyncio.create_task(create())
        await asyncio.sleep(0)
        await write()
        await task

    asyncio.run(main())
    assert order == ["job", "status"]
