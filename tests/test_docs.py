"""The examples in the package's docstrings run and print what they show."""

from __future__ import annotations

import doctest

import pytest

import interpchan
import interpchan._pool
import interpchan._spawn


@pytest.mark.parametrize(
    "module", [interpchan, interpchan._spawn, interpchan._pool], ids=lambda m: m.__name__
)
def test_docstring_examples(module) -> None:
    result = doctest.testmod(module, verbose=False)
    assert result.attempted > 0
    assert result.failed == 0
