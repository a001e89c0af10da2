"""`pip install veilproof` works outside the repo: build the wheel, install it into a fresh venv and run
`veilproof demo` from a folder that is not the checkout (issue #13).

The fresh venv gets only the wheel (``--no-deps``); the heavy pinned engines (torch, EZKL, Concrete) are
borrowed from the test's own environment through ``PYTHONPATH`` (no network needed for them). The editable
install of the checkout is not activated there, so ``import veilproof`` can only resolve to the installed
wheel — the test checks that it does. The engines' own start-up hooks (``.pth`` files) are, as a real
install would run them: on Python 3.12, where the standard library has no ``distutils``, skorch (pinned by
Concrete ML) imports it through setuptools' shim, which only ``distutils-precedence.pth`` installs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]


def _run(args: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(args, capture_output=True, text=True, timeout=900, **kw)  # type: ignore[call-overload]
    assert r.returncode == 0, f"{args}:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("wheel")
    clean = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the checkout's src/ must not leak in
    # Build from a copy of what the sdist would hold, so the build leaves nothing in the checkout.
    src = root / "src-tree"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    shutil.copytree(REPO / "contracts", src / "contracts")
    shutil.copytree(
        REPO / "src" / "veilproof",
        src / "src" / "veilproof",
        symlinks=True,  # contracts_src -> ../../contracts: the wheel must follow the link itself
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    assert (src / "src" / "veilproof" / "contracts_src").is_symlink()
    _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(root / "dist"), str(src)],
        env=clean,
    )
    (wheel,) = (root / "dist").glob("veilproof-*.whl")

    venv = root / "venv"
    _run([sys._base_executable, "-m", "venv", "--without-pip", str(venv)], env=clean)  # type: ignore[attr-defined]
    py = venv / "bin" / "python"
    _run(
        [sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "-q", str(wheel)],
        env=clean,
    )
    engines = Path(sysconfig.get_paths()["purelib"])
    where = [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]
    site = Path(_run(where, env=clean).stdout.strip())  # the fresh venv's site-packages
    for hook in engines.glob("*.pth"):
        if not hook.name.startswith("__editable__"):  # the checkout's own hook stays out
            shutil.copy(hook, site / hook.name)
    env = {k: v for k, v in clean.items() if not k.startswith("VEILPROOF_")}
    env["PYTHONPATH"] = str(engines)  # the pinned engines, not the checkout
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["VEILPROOF_HOME"] = str(root / "home")
    env["VEILPROOF_PASSWORD"] = "pw"
    env["VEILPROOF_SCRYPT_N"] = "1024"
    return venv, env


def test_installed_wheel_runs_the_demo_outside_the_repo(
    installed: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    venv, env = installed
    cli = str(venv / "bin" / "veilproof")
    where = _run(
        [str(venv / "bin" / "python"), "-c",
         "import veilproof.chain as c, veilproof; print(veilproof.__file__); print(c.contracts_dir())"],
        env=env, cwd=tmp_path,
    ).stdout.split()  # fmt: skip
    assert all(w.startswith(str(venv)) for w in where), where  # the wheel's code and contract sources
    from veilproof import __version__

    assert _run([cli, "--version"], env=env, cwd=tmp_path).stdout.strip() == f"veilproof {__version__}"
    r = _run([cli, "demo", "--workdir", str(tmp_path / "demo")], env=env, cwd=tmp_path)
    assert "demo passed" in r.stdout, r.stdout[-3000:]
