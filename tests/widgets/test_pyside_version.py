"""PySide6-Essentials 6.12.0 on Python < 3.12 drops a reference to None on every
call of a wrapped void method, and pyqtgraph windows abort ("none_dealloc").
This is exactly the check that found it."""

import sys

import pytest
from PySide6.QtCore import QRectF


def test_void_method_calls_keep_none_refcount():
    rect = QRectF(0, 0, 1, 1)
    for _ in range(10):  # warm up any caches
        rect.setHeight(2.0)
    before = sys.getrefcount(None)
    for _ in range(200):
        rect.setHeight(2.0)
    after = sys.getrefcount(None)
    assert after - before == pytest.approx(0, abs=5)
