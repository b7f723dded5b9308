"""The README's notebook table is generated from the notebooks: it must stay in sync."""

from __future__ import annotations

from pathlib import Path

from netdebug_nb import catalogue

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_documents_every_notebook_and_parameter() -> None:
    text = README.read_text()
    for info in catalogue.all_notebooks():
        assert f"### `{info.name}`" in text, f"README lacks a section for {info.name}"
        section = text.split(f"### `{info.name}`", 1)[1].split("\n### ", 1)[0]
        assert info.purpose in section, f"README purpose of {info.name} differs from its metadata"
        for p in info.parameters:
            accepts = p.domain.describe() if p.domain else ""
            row = f"| `{p.name}` | {p.type} | `{p.default!r}` | {accepts} | {p.help} |"
            assert row in section, f"README row out of date for {info.name}.{p.name}: {row}"


def test_readme_has_the_two_commands() -> None:
    text = README.read_text()
    assert "./dev.sh demo" in text and "./dev.sh test" in text
    assert (
        "./dev.sh test" in (README.parent / ".ci" / "run").read_text()
        or "dev.sh test" in (README.parent / ".ci" / "run").read_text()
    )
