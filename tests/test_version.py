"""One version, written once (Cargo.toml's, as the package metadata and interpchan.__version__);
the names the package exports, those looked up on first use included."""

from __future__ import annotations

import importlib.metadata
import os
import re
import subprocess
import sys

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


def test_every_exported_name_is_listed_and_reachable() -> None:
    names = dir(interpchan)
    for name in [*interpchan.__all__, "__version__", "bridge"]:
        assert name in names
        assert getattr(interpchan, name) is not None
    assert names == sorted(names)
    namespace: dict[str, object] = {}
    exec("from interpchan import *", namespace)
    assert set(interpchan.__all__) <= namespace.keys()


def test_submodules_are_reachable_after_a_plain_import() -> None:
    # In a fresh process: here another test may have imported interpchan.bridge already.
    code = "import interpchan; print(callable(interpchan.bridge.sender))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.stdout.split() == ["True"], result.stderr
