"""The code cites the services' facts in docs/, never reference files outside the repository."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = {name: ROOT / "docs" / f"{name}.md" for name in ("apns", "fcm", "webpush")}
PROVIDERS = ROOT / "src" / "pushgate" / "providers"
OWNED = [ROOT / "src" / "pushgate" / part for part in ("providers", "transport")] + [
    ROOT / "tests" / part for part in ("providers", "transport", "e2e", "docs")
]
CITATION = re.compile(r"docs/(apns|fcm|webpush)\.md §(\d+)")
BARE = re.compile(r"(?<!RFC \d{4} )(?<!\.md )§(\d+)")


def sections(name: str) -> set[str]:
    return set(re.findall(r"^## §(\d+) ", DOCS[name].read_text(), flags=re.MULTILINE))


def sources() -> list[Path]:
    return sorted(path for folder in OWNED for path in folder.rglob("*.py"))


@pytest.mark.parametrize("path", sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_citation_of_files_outside_the_repository(path: Path) -> None:
    text = path.read_text()
    if path.name == "test_citations.py":
        return
    assert "PROTOCOLS" not in text and "shared/" not in text


@pytest.mark.parametrize("path", sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_docs_citation_names_a_section(path: Path) -> None:
    for name, number in CITATION.findall(path.read_text()):
        assert number in sections(name), f"{path.name} cites docs/{name}.md §{number}"


@pytest.mark.parametrize("name", sorted(DOCS))
def test_bare_section_numbers_in_a_provider_module_are_its_services(name: str) -> None:
    """A provider module's bare § numbers are sections of its own service's document."""
    for path in sorted(PROVIDERS.glob(f"{name}*.py")):
        for number in BARE.findall(path.read_text()):
            assert number in sections(name), f"{path.name} cites §{number}"
