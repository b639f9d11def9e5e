"""What follows a user's rights shrinking (a role taken away, a session ended, an account
disabled), once it is committed: this container forgets its view of them and their live
connections end. Apart from hospital.auth.standing, which every call imports: this one reaches
the live connections' management API."""
from __future__ import annotations


def rights_ended(user_id: int, sessions: list[str] | None = None) -> None:
    """Forget this container's view of the user and end their live connections (of those
    sessions, or all)."""
    from hospital import live
    from hospital.auth import standing

    standing.forget(user_id)
    if sessions is None:
        live.close_for(user_id)
    else:
        for session_id in sessions:
            live.close_for(user_id, session_id)
