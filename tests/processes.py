"""Helpers for tests that drive the CLI in a child process."""

from __future__ import annotations

import signal


def default_sigint() -> None:
    """``preexec_fn`` of a child that a test interrupts with SIGINT (Ctrl-C).

    A shell's background job starts with SIGINT ignored, and an ignored signal stays ignored
    across exec: a test run started with ``nohup ... &`` would hand its child a Ctrl-C it never
    sees (two CI runs here failed on exactly that). A user's terminal does not do this, so the
    child starts with SIGINT at its default, where Python turns it into KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
