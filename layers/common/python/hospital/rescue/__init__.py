"""Emergency rescue: cases, their append-only timeline, and intake."""
