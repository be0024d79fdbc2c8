"""The allocator tuning: on glibc it takes, and asking twice is harmless."""

import sys

import pytest

from lab.train.allocator import keep_freed_memory


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_glibc_keeps_freed_memory():
    assert keep_freed_memory() is True
    assert keep_freed_memory() is True
