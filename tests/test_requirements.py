"""The pinned requirements install anywhere: no machine's package index or wheel folder in them."""

from pathlib import Path

import pytest

REQUIREMENTS = sorted((Path(__file__).resolve().parent.parent / "requirements").glob("*.txt"))
MACHINE_OPTIONS = ("--index-url", "--extra-index-url", "--find-links", "--trusted-host", "-i ", "-f ")


@pytest.mark.parametrize("path", REQUIREMENTS, ids=lambda p: p.name)
def test_pinned_requirements_name_no_index_or_wheel_folder(path):
    lines = [line.strip() for line in path.read_text().splitlines()]
    assert not [line for line in lines if line.startswith(MACHINE_OPTIONS)]


@pytest.mark.parametrize("path", REQUIREMENTS, ids=lambda p: p.name)
def test_every_requirement_is_pinned(path):
    packages = [line for line in path.read_text().splitlines() if line and not line.startswith((" ", "#", "-"))]
    assert packages and all("==" in line for line in packages)
