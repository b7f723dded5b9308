"""Freed memory given back to the operating system after an analysis step over many packets.

The analyses make numpy temporaries of a few MB per packet column. Once bigger arrays have been
freed, glibc serves arrays of that size from its heap rather than from their own mappings, and
keeps the heap's freed pages: the process' resident memory would stay at each step's peak and the
next step's temporaries would stack on top of it (+150 MB on a million packets).
"""

from __future__ import annotations


def release() -> None:
    """Return the C heap's free pages to the system (glibc ``malloc_trim``; elsewhere nothing)."""
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        return
    try:
        trim = ctypes.CDLL(None).malloc_trim  # the C library the interpreter runs on
    except (OSError, AttributeError):  # not glibc (musl has no malloc_trim)
        return
    trim(0)
