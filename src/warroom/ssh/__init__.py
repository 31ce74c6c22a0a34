"""The SSH front door: `warroom serve-ssh` and `warroom ssh-authorized-keys`.

- `server.py` — who gets in (public keys of the plan's people only; the key
  decides who you are) and the session limit; audit events for every
  connect, disconnect and refusal.
- `session.py` / `pty.py` — one war-room process per session on its own
  pseudo-terminal, bridged to the SSH channel without blocking anyone else.
- `preload.py` — a helper that has loaded the app once and forks each
  session's process from it (fast first frame, shared memory).
- `remote.py` — the app's side of a session: hang-ups end it cleanly.
- `keys.py` — reading and matching keys; authorized_keys lines for a team's
  own sshd. `hostkey.py` — the server's persistent host key.

Nothing here is imported by the rest of warroom except the CLI, lazily.
"""
