"""One version, written once: Cargo.toml's, as the package metadata and interpchan.__version__."""

from __future__ import annotations

import importlib.metadata
import os
import re

import pytest

import interpchan

CARGO_TOML = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "Cargo.toml")


def test_version_is_the_installed_metadata() -> None:
    assert interpchan.__version__ == importlib.metadata.version("interpchan")
    assert re.fullmatch(r"\d+\.\d+\.\d+\S*", interpchan.__version__)


@pytest.mark.skipif(not os.path.exists(CARGO_TOML), reason="no source tree here")
def test_version_is_cargo_tomls() -> None:
    with open(CARGO_TOML) as f:
        package = f.read().split("[package]", 1)[1].split("\n[", 1)[0]
    match = re.search(r'^version = "([^"]+)"', package, re.M)
    assert match and interpchan.__version__ == match.group(1)


def test_other_attributes_still_raise() -> None:
    with pytest.raises(AttributeError):
        interpchan.no_such_attribute  # noqa: B018
