"""Work-around for a reference-count bug of PySide6 6.12 on CPython 3.11.

In PySide6 6.12 every call of a Qt method that returns ``void`` (``widget.setVisible``, ``timer.setInterval``,
``item.update`` ...) takes one reference from ``None``, and ``Signal.emit`` takes one from ``True``. On
CPython >= 3.12 these objects are immortal (PEP 683) and nothing happens; on 3.11 their counts run down
and the process aborts with ``Fatal Python error: none_dealloc`` (or ``bool_dealloc``): at exit after a short
session, within seconds when plots are redrawn at 30 Hz (pyqtgraph makes hundreds of such calls per frame).

:func:`pin_singletons` gives ``None``, ``True`` and ``False`` a reserve of references large enough that the
leak can never exhaust it (what PEP 683 does on newer Pythons); it only acts when a probe shows the leak.
"""

from __future__ import annotations

import ctypes
import sys

PROBE_CALLS = 64  # void calls made to detect the leak
RESERVE = 1 << 48  # references added (the leak loses a few thousand a second)
_pinned = False


def leaks_none() -> bool:
    """True when a void PySide6 call takes a reference from ``None`` (the 6.12 bug)."""
    from PySide6 import QtCore

    probe = QtCore.QObject()
    before = sys.getrefcount(None)
    for _ in range(PROBE_CALLS):
        probe.setObjectName("probe")
    return sys.getrefcount(None) <= before - PROBE_CALLS // 2


def pin_singletons() -> bool:
    """Pin ``None``/``True``/``False`` where the bug bites (CPython < 3.12); True when it did."""
    global _pinned
    if _pinned or sys.version_info >= (3, 12) or sys.implementation.name != "cpython" or not leaks_none():
        return _pinned
    for singleton in (None, True, False):
        refcount = ctypes.c_ssize_t.from_address(id(singleton))  # ob_refcnt is the object's first field
        refcount.value += RESERVE
    _pinned = True
    return True
