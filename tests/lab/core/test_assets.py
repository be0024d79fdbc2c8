import pytest

from lab.core.assets import asset


def test_assets_are_found_and_a_missing_one_is_named():
    assert asset("knoblab.png").stat().st_size > 1000
    with pytest.raises(FileNotFoundError, match="no-such-file"):
        asset("no-such-file")
