"""The store as the TUI sees it: one read of the release, the change feed, presence.

The war-room app reads through this module only (it writes through the
command layer): the snapshot it shows, the feed that says when and what to
read again, and the presence heartbeats that say who else is in the room
(presence is not release state, so it bypasses the command layer; see
store/presence.py). Anything the app needs from the store is added here, so
the store's own modules can change without the TUI noticing. A session of
`warroom serve-ssh` gets its reads from the server instead (`relay`).
"""

from __future__ import annotations

from warroom.domain.snapshot import Present
from warroom.store import relay
from warroom.store.engine import Store, StoreError, load_hint, normalise_url
from warroom.store.feed import Coalescer, FeedEvent, open_feed
from warroom.store.migrate import ensure_schema
from warroom.store.presence import beat, leave, present
from warroom.store.queries import (
    audit_revision,
    current_release,
    read_history,
    read_room,
    recent_samples,
    reload_snapshot,
)

LOG_LIMIT = 2000  # lines of the communication log a room reads (and keeps on screen)

__all__ = [
    "LOG_LIMIT",
    "Coalescer",
    "FeedEvent",
    "Present",
    "Store",
    "StoreError",
    "audit_revision",
    "beat",
    "current_release",
    "ensure_schema",
    "leave",
    "load_hint",
    "normalise_url",
    "open_feed",
    "present",
    "read_history",
    "read_room",
    "recent_samples",
    "relay",
    "reload_snapshot",
]
