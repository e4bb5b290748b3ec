"""In the installed-wheel run (scripts/test-wheel.sh): the suite tests the installed package."""

from __future__ import annotations

import os
import sys
import sysconfig
from pathlib import Path

import pytest

import interpchan
from interpchan import _interpchan

WHEEL = os.environ.get("INTERPCHAN_TEST_INSTALLED", "")  # the installed wheel's file name

pytestmark = pytest.mark.skipif(
    not WHEEL, reason="only in the installed-wheel run (scripts/test-wheel.sh)"
)


def test_the_package_and_its_extension_come_from_the_venvs_site_packages() -> None:
    assert sys.prefix != sys.base_prefix  # a venv
    site = Path(sysconfig.get_path("platlib")).resolve()
    for path in (interpchan.__file__, _interpchan.__file__):
        assert Path(path).resolve().is_relative_to(site), path
    assert not any(
        Path(p, "interpchan", "__init__.py").exists()
        for p in sys.path
        if p and not Path(p).resolve().is_relative_to(site)
    )  # no source tree can shadow it


def test_the_extension_is_the_one_the_wheel_names() -> None:
    name = Path(_interpchan.__file__).name
    if "-abi3-" in WHEEL:
        assert name.endswith(".abi3.so"), name
    else:
        assert name.endswith(sysconfig.get_config_var("EXT_SUFFIX")), name
