"""The tree is the map of the layers (docs/layout.md): imports run one way, down, with no
cycles, and only the Cloudflare glue touches the Workers runtime."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from support.import_graph import cycles, violations

SOURCE = Path(__file__).resolve().parents[1] / "src"


def test_no_module_of_the_package_imports_a_layer_above_its_own() -> None:
    assert violations(SOURCE) == []


def test_no_modules_import_each_other() -> None:
    assert cycles(SOURCE) == []


@pytest.fixture
def planted(tmp_path: Path) -> Path:
    """A copy of the package to plant violations in."""
    shutil.copytree(SOURCE / "chatstate", tmp_path / "chatstate")
    return tmp_path


def plant(root: Path, module: str, line: str) -> None:
    path = root.joinpath(*module.split(".")).with_suffix(".py")
    path.write_text(path.read_text() + f"\n{line}\n")


def test_the_chat_runtime_importing_the_console_is_caught(planted: Path) -> None:
    plant(planted, "chatstate.chat.runtime", "from chatstate.routes.console import index")
    assert violations(planted) == [
        "chatstate.chat.runtime:"
        f"{len((planted / 'chatstate/chat/runtime.py').read_text().splitlines())} imports "
        "chatstate.routes.console.index (a lower layer imports a higher one)"
    ]


def test_state_importing_a_runtime_is_caught(planted: Path) -> None:
    plant(planted, "chatstate.state.store", "import chatstate.local.app")
    assert any("chatstate.state.store" in v for v in violations(planted))


def test_workers_outside_the_cloudflare_glue_is_caught(planted: Path) -> None:
    plant(planted, "chatstate.platforms.telegram", "import js")
    assert any("touch the Workers runtime" in v for v in violations(planted))


def test_two_modules_importing_each_other_are_caught(planted: Path) -> None:
    plant(planted, "chatstate.state.stores", "from chatstate.state import adapter")
    assert ["chatstate.state.adapter", "chatstate.state.stores"] in cycles(planted)
