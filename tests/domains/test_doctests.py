import doctest
import importlib

import pytest

MODULES = ["chain", "checkers", "file", "gcd", "median", "multiplication", "noise", "sorting", "baseconv", "addition"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    mod = importlib.import_module(f"synthloop.domains.{name}")
    result = doctest.testmod(mod)
    assert result.attempted > 0 and result.failed == 0
