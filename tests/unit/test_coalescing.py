"""The uvicorn protocol's transport: the writes of one event-loop turn go out as one, in order, before a close."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from pet_auth.http.coalescing import _CoalescingTransport


class RecordingTransport:
    """Stands in for the socket's transport: records what reaches it."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.events: list[str] = []
        self.closing = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)
        self.events.append("write")

    def close(self) -> None:
        self.closing = True
        self.events.append("close")

    def abort(self) -> None:
        self.closing = True
        self.events.append("abort")

    def is_closing(self) -> bool:
        return self.closing

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str) -> Any:
        return f"extra {name}"


def coalescing(transport: RecordingTransport) -> _CoalescingTransport:
    return _CoalescingTransport(cast("asyncio.Transport", transport), asyncio.get_running_loop())


async def test_the_writes_of_one_turn_reach_the_socket_as_one_write_in_order() -> None:
    socket = RecordingTransport()
    transport = coalescing(socket)
    transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
    transport.write(b"{}")
    assert socket.writes == []  # nothing before the turn ends
    assert transport.get_write_buffer_size() == len(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}")
    await asyncio.sleep(0)
    assert socket.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"]
    transport.write(b"next")  # a later turn: a write of its own
    await asyncio.sleep(0)
    assert socket.writes[1:] == [b"next"]


async def test_a_close_sends_what_was_written_first() -> None:
    socket = RecordingTransport()
    transport = coalescing(socket)
    transport.write(b"last response")
    transport.close()
    assert socket.events == ["write", "close"]
    assert socket.writes == [b"last response"]
    await asyncio.sleep(0)
    assert socket.writes == [b"last response"]  # not twice


async def test_an_abort_drops_what_was_not_sent_and_nothing_is_written_after_a_close() -> None:
    socket = RecordingTransport()
    transport = coalescing(socket)
    transport.write(b"never sent")
    transport.abort()
    await asyncio.sleep(0)
    assert socket.writes == []
    socket.closing = False
    transport.write(b"written")
    socket.close()  # the peer went away before the turn ended
    await asyncio.sleep(0)
    assert socket.writes == []


async def test_everything_else_is_the_transport_s() -> None:
    socket = RecordingTransport()
    transport = coalescing(socket)
    assert transport.get_extra_info("peername") == "extra peername"
    assert not transport.is_closing()
