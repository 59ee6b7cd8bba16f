"""The project is licensed under the EUPL-1.2: the official text at the root, and every package says so."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYPROJECTS = sorted(p for p in ROOT.glob("**/pyproject.toml") if not {".venv", ".tools"} & set(p.parts))


def test_licence_file_is_the_eupl_1_2() -> None:
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("EUROPEAN UNION PUBLIC LICENCE v. 1.2")
    # Its last article and the appendix of compatible licences: the text is whole, not a summary.
    assert "15.Applicable Law" in text
    assert "‘Compatible Licences’ according to Article 5 EUPL are:" in text
    assert "GNU General Public License (GPL) v. 2, v. 3" in text


@pytest.mark.parametrize("pyproject", PYPROJECTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_package_declares_the_eupl_1_2(pyproject: Path) -> None:
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    assert project.get("license") == "EUPL-1.2"
