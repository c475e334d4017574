"""The flow library ships with the package and is found from any directory; an
organisation's own folder (SAMEN_FLOWS_DIR) sits beside it, and its flow of the same id
replaces the shipped one (issue 20)."""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path

from bot.flowfiles import SHIPPED_FLOWS_DIR, library_paths, load_library
from tests.harness.process import ROOT, environment, samen


def test_samen_finds_its_flows_outside_the_project_folder(tmp_path: Path) -> None:
    """Issue 20: `samen demo` run elsewhere ended in "'flows' does not exist"."""
    elsewhere = tmp_path / "elders"
    elsewhere.mkdir()
    checked = subprocess.run(
        [samen(), "flows", "check"],
        cwd=elsewhere,
        env=environment(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.splitlines()[-1].endswith("flows checked: 0 errors, 0 warnings")
    demo = subprocess.run(
        [samen(), "demo", "--speed", "1000000"],
        cwd=elsewhere,
        env=environment(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert demo.returncode == 0, demo.stderr[-2000:]
    assert "does not exist" not in demo.stderr and "Traceback" not in demo.stderr
    assert "🔔" in demo.stdout


def test_an_own_flow_of_the_same_id_replaces_the_shipped_one(tmp_path: Path) -> None:
    own = tmp_path / "eigen"
    own.mkdir()
    text = (ROOT / "flows" / "time-out.yaml").read_text(encoding="utf-8")
    (own / "time-out.yaml").write_text(
        text.replace("nl: Time-out", "nl: Onze eigen time-out", 1), encoding="utf-8"
    )
    assert library_paths(own) == [SHIPPED_FLOWS_DIR, own]
    assert library_paths(ROOT / "flows") == [SHIPPED_FLOWS_DIR]  # the library itself
    found = load_library(own)
    assert found.errors == []
    assert found.flows["time-out"].title["nl"] == "Onze eigen time-out"  # type: ignore[index]
    # The other shipped flows stay, and the intervision still finds its time-out.
    assert "intervisie-complexe-casuistiek" in found.flows
    assert load_library().flows["time-out"].title != found.flows["time-out"].title


def test_a_built_package_carries_the_flows_as_package_data(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("samen_setup", ROOT / "setup.py")
    assert spec is not None and spec.loader is not None
    setup = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(setup)  # not as __main__: defines, does not build
    written = setup.copy_flow_library(ROOT / "flows", tmp_path)
    shipped = tmp_path / "bot" / "shipped_flows"
    names = {p.name for p in written}
    assert {"intervisie-complexe-casuistiek.yaml", "time-out.test.yaml"} <= names
    assert (shipped / "tests" / "time-out.test.yaml").is_file()
