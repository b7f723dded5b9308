"""glibc's heap around big numpy work: freed memory given back after an analysis step over many
packets (:func:`release`), or kept by a short-lived reader process (:func:`keep`).

The analyses make numpy temporaries of a few MB per packet column. Once bigger arrays have been
freed, glibc serves arrays of that size from its heap rather than from their own mappings, and
keeps the heap's freed pages: the process' resident memory would stay at each step's peak and the
next step's temporaries would stack on top of it (+150 MB on a million packets).
"""

from __future__ import annotations


def release() -> None:
    """Return the C heap's free pages to the system (glibc ``malloc_trim``; elsewhere nothing),
    and Arrow's memory pool's (mimalloc or jemalloc keep freed pages for reuse) when loaded."""
    import ctypes
    import sys

    arrow = sys.modules.get("pyarrow")
    if arrow is not None:
        arrow.default_memory_pool().release_unused()
    if not sys.platform.startswith("linux"):
        return
    try:
        trim = ctypes.CDLL(None).malloc_trim  # the C library the interpreter runs on
    except (OSError, AttributeError):  # not glibc (musl has no malloc_trim)
        return
    trim(0)


_M_TOP_PAD = -2  # glibc mallopt parameter


def keep() -> None:
    """Stop glibc from returning freed heap to the kernel after every batch (this process only).

    Each batch allocates and frees tens of MB of numpy temporaries; by default glibc trims the
    heap top on free and the next batch faults the pages in again (zeroed), which costs about a
    fifth of the read. Only for a process that exits when done (the reader's forked worker): in
    the caller's process it would be a lasting change to the user's malloc.
    """
    import contextlib
    import ctypes

    with contextlib.suppress(OSError, AttributeError):  # not glibc: keep the default
        ctypes.CDLL(None).mallopt(_M_TOP_PAD, 256 << 20)
