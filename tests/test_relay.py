"""What `warroom serve-ssh` hands its sessions' apps (store/relay.py, ssh/relay.py).

The server reads once per change and sends each app only what changed; an
app rebuilds the snapshot from the frame and the one before it. Here each
step of a release day goes over the wire (encoded, decoded, applied) and
must come out equal to the server's read, on both backends; and a session
that stops reading keeps one frame waiting, never a queue.
"""

from __future__ import annotations

import asyncio
import socket

from tests.test_reload import LOG_LIMIT, _full, both_reads, release_day, topics_after
from warroom.clock import FixedClock
from warroom.commands import Commands
from warroom.ssh.relay import Outlet, Read
from warroom.store import relay
from warroom.store.engine import Store


def over_the_wire(frame: relay.Snapshot) -> relay.Snapshot:
    body = relay.encode(frame)[relay.HEADER.size :]
    decoded = relay.decode(body)
    assert isinstance(decoded, relay.Snapshot)
    return decoded


def test_every_change_sent_as_a_delta_rebuilds_the_servers_read(
    loaded: Store, clock: FixedClock
) -> None:
    server = _full(loaded, clock)
    app = relay.apply(None, over_the_wire(relay.whole(server, server.revision)))
    assert app == server
    _, seen = topics_after(loaded, 0)
    for what, step in release_day(loaded, clock):
        step()
        topics, seen = topics_after(loaded, seen)
        if any(s.health != server.health_state(s.name, clock.now()) for s in server.services):
            topics |= {"health"}
        after, _ = both_reads(loaded, server, topics, clock)
        frame = relay.delta(server, after, after.revision, topics)
        assert not frame.whole
        app = relay.apply(app, over_the_wire(frame))
        assert app == after, f"after {what}"
        server = after
    assert len(server.log) == LOG_LIMIT  # the log's window slid: tails trimmed on both sides


def test_a_message_sends_its_line_not_the_log(loaded: Store, clock: FixedClock) -> None:
    before = _full(loaded, clock)
    Commands(loaded, clock, "mike").post_message("one more line")
    after, _ = both_reads(loaded, before, frozenset({"log"}), clock)
    frame = relay.delta(before, after, after.revision, frozenset({"log"}))
    assert frame.fields is not None and set(frame.fields) == {"revision"}
    assert frame.log_tail is not None and [line.text for line in frame.log_tail] == [
        "one more line"
    ]


async def test_a_session_that_stops_reading_keeps_one_frame_waiting(
    loaded: Store, clock: FixedClock
) -> None:
    snapshot = _full(loaded, clock)
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    gone: list[Outlet] = []
    outlet = Outlet(ours, gone.append)
    try:
        big = relay.encode(relay.whole(snapshot, 1))
        delta = relay.encode(relay.delta(snapshot, snapshot, 2, frozenset({"log"})))
        outlet.send_read(Read(snapshot, 1, big), first=True)  # more than the buffer holds
        for revision in range(2, 50):
            outlet.send_read(Read(snapshot, revision, delta))
        # One frame being written, one waiting (the newest, whole): 47 dropped.
        assert outlet.dropped == 47
        # The app reads again: the frame it was cut off in, then the newest whole room.
        theirs.setblocking(False)
        received = bytearray()
        loop = asyncio.get_running_loop()
        frames: list[relay.Frame] = []
        while len(frames) < 2:
            received += await asyncio.wait_for(loop.sock_recv(theirs, 65536), 10)
            while len(received) >= relay.HEADER.size:
                (length,) = relay.HEADER.unpack_from(received)
                if len(received) < relay.HEADER.size + length:
                    break
                frames.append(relay.decode(bytes(received[4 : 4 + length])))
                del received[: 4 + length]
        first, newest = frames
        assert isinstance(first, relay.Snapshot) and first.whole and first.revision == 1
        assert isinstance(newest, relay.Snapshot) and newest.whole and newest.revision == 49
        assert relay.apply(None, newest) == snapshot
        # The app goes: the outlet notices on its next send and says so.
        theirs.close()
        outlet.send_read(Read(snapshot, 50, delta))
        assert gone == [outlet] and outlet.closed
    finally:
        outlet.close()
        theirs.close()
