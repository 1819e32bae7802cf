"""The package as a user installs it, not as the editable checkout sees it.

The sdist and the wheel built from it hold every module and data file the shipped packages load
(templates, static files, profiles, migrations, holiday lists); the Dockerfile copies every
shipped package (Docker cannot run here, so it is read); and `secmon server run` from a fresh,
non-editable venv with the server extra serves the console login and a client's status page.
Building and installing take a while: these tests are marked `packaging` and `make test` runs them.
"""

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
import venv
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from simulate.peers.net import free_port

ROOT = Path(__file__).resolve().parents[1]
# Top-level packages of the checkout that are for development only and never installed.
DEV_ONLY = frozenset({"tests", "bench", "peers"})
# Checkout entries that are not source: environments, caches, build output, local data.
NOT_SOURCE = (
    *(".git", ".venv", ".demo", ".hypothesis", ".*_cache", "__pycache__"),
    *("*.egg-info", "build", "dist", "*.db", "*.db-wal", "*.db-shm"),
)
# What setuptools says when pyproject uses a form it is about to drop.
DEPRECATION = re.compile(r"BuildBackendWarning|SetuptoolsDeprecationWarning|is deprecated")
CLIENT = "Packaging Test Client"
ADMIN_PASSWORD = "packaging-test-password"
ADMIN_USER = (
    *("admin", "create-user", "--username", "boss", "--role", "admin"),
    *("--password-env", "PACKAGING_PW"),
)
# The console's pages for staff, each rendered from the installed templates.
CONSOLE_PAGES = ("/console", "/console/sites", "/console/sites/1", "/console/kpis")

pytestmark = pytest.mark.packaging


@dataclass(frozen=True)
class Built:
    wheel: Path
    log: str


def shipped_packages() -> list[str]:
    """The checkout's top-level Python packages that an install must carry."""
    return sorted(
        p.name for p in ROOT.iterdir() if (p / "__init__.py").is_file() and p.name not in DEV_ONLY
    )


def package_files(package: str) -> set[str]:
    """Every file under a shipped package (code and data), as paths inside the wheel."""
    return {
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / package).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    }


def local_imports(package: str) -> set[str]:
    """Top-level modules of this checkout that a package's code imports."""
    local = {p.name for p in ROOT.iterdir() if (p / "__init__.py").is_file()}
    found: set[str] = set()
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module.split(".")[0])
    return found & local


def dockerfile_copies(text: str) -> set[str]:
    """The build-context sources of the Dockerfile's COPY instructions (not `--from` stages)."""
    sources: set[str] = set()
    for line in text.replace("\\\n", " ").splitlines():
        words = line.split()
        if not words or words[0].upper() != "COPY":
            continue
        args = [w for w in words[1:] if not w.startswith("--")]
        if any(w.startswith("--from") for w in words[1:]):
            continue
        sources.update(a.rstrip("/") or "." for a in args[:-1])
    return sources


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """`python -m build`: the sdist, then the wheel from the sdist, as a release is made."""
    # From a copy without build leftovers: setuptools reads an old *.egg-info/SOURCES.txt into
    # the sdist, which would hide a file that pyproject no longer (or never) ships.
    source = tmp_path_factory.mktemp("source") / "secmon"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*NOT_SOURCE))
    out = tmp_path_factory.mktemp("dist")
    done = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(source)],
        capture_output=True,
        text=True,
        check=False,
        timeout=480,
    )
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-4000:]
    (wheel,) = out.glob("secmon-*.whl")
    return Built(wheel=wheel, log=log)


def test_the_shipped_packages_are_the_ones_pyproject_finds() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    include = config["tool"]["setuptools"]["packages"]["find"]["include"]
    assert sorted(pattern.rstrip("*") for pattern in include) == shipped_packages()
    for package in shipped_packages():
        stray = local_imports(package) - set(shipped_packages())
        assert not stray, f"{package} imports development-only {sorted(stray)}"


def test_dockerfile_copies_every_shipped_package() -> None:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    copied = dockerfile_copies(text)
    if "." not in copied:
        needed = {"pyproject.toml", "README.md", *shipped_packages()}
        assert needed <= copied, f"the Dockerfile does not COPY {sorted(needed - copied)}"
    installs = [line for line in text.splitlines() if "pip install" in line]
    assert installs, "the Dockerfile installs nothing"
    assert all(" -e " not in line and "--editable" not in line for line in installs)


def test_wheel_holds_every_module_and_data_file(built: Built) -> None:
    with zipfile.ZipFile(built.wheel) as wheel:
        names = set(wheel.namelist())
    for package in shipped_packages():
        missing = package_files(package) - names
        assert not missing, f"not in the wheel: {sorted(missing)}"


def test_build_gives_no_deprecation_warning(built: Built) -> None:
    warned = [line for line in built.log.splitlines() if DEPRECATION.search(line)]
    assert not warned, "\n".join(warned)


@pytest.fixture(scope="module")
def installed(built: Built, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheel and its server extra (pip's cache keeps this quick)."""
    env_dir = tmp_path_factory.mktemp("venv")
    venv.create(env_dir, with_pip=True)
    done = subprocess.run(
        [str(env_dir / "bin" / "python"), "-m", "pip", "install", "-q", f"{built.wheel}[server]"],
        capture_output=True,
        text=True,
        check=False,
        timeout=480,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    return env_dir


# Counts what each loader found, from the installed copy (the agent's loaders need only base deps).
DATA_PROBE = """
import json
from agent.probes.mqtt.mapping import builtin_templates
from agent.probes.snmp_profiles import builtin_profiles
from server.sla import load_holiday_file
print(json.dumps({
    "snmp_profiles": len(builtin_profiles().profiles),
    "mqtt_templates": len(builtin_templates()),
    "cn_2026_days": len(load_holiday_file("cn-2026").holidays),
}))
"""


def test_installed_package_loads_its_own_data(installed: Path, tmp_path: Path) -> None:
    done = subprocess.run(
        [str(installed / "bin" / "python"), "-c", DATA_PROBE],
        cwd=tmp_path,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout)
    assert found["snmp_profiles"] == len(list((ROOT / "agent/profiles/snmp").glob("*.yaml")))
    assert found["mqtt_templates"] == len(
        list((ROOT / "agent/probes/mqtt/templates").glob("*.yaml"))
    )
    assert found["cn_2026_days"] > 0


def _run(env_dir: Path, env: dict[str, str], cwd: Path, *args: str) -> str:
    done = subprocess.run(
        [str(env_dir / "bin" / "secmon"), *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, f"secmon {' '.join(args)}: {done.stderr[-3000:]}"
    return done.stdout


@dataclass(frozen=True)
class Served:
    url: str
    status_link: str


@pytest.fixture
def served(installed: Path, tmp_path: Path) -> Iterator[Served]:
    """`secmon server run` from the installed venv, with a client, a site and a status link."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME"}
    }
    env |= {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'secmon.db'}",
        "SECMON_SECRET_KEY": "packaging-test-secret-key-0123456789abcdef",
    }
    where = subprocess.run(
        [str(installed / "bin" / "python"), "-c", "import server; print(server.__file__)"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert Path(where.strip()).is_relative_to(installed), f"server imported from {where}"
    _run(installed, env, tmp_path, "db", "upgrade")
    _run(installed, env, tmp_path, "admin", "create-client", CLIENT)
    _run(
        installed,
        env,
        tmp_path,
        "admin",
        "create-site",
        "--client",
        CLIENT,
        "--name",
        "HQ",
        "--timezone",
        "Asia/Shanghai",
    )
    env["PACKAGING_PW"] = ADMIN_PASSWORD
    _run(installed, env, tmp_path, *ADMIN_USER)
    link = _run(installed, env, tmp_path, "admin", "status-link", "--client", CLIENT).strip()
    port = free_port()
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [str(installed / "bin" / "secmon"), "server", "run", "--port", str(port)],
            env=env,
            cwd=tmp_path,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert proc.poll() is None, log_path.read_text(errors="replace")[-3000:]
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            pytest.fail("installed server not healthy in 60 s: " + log_path.read_text()[-3000:])
        yield Served(url=url, status_link=link.splitlines()[-1])
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_installed_server_serves_console_and_status_page(served: Served) -> None:
    url = served.url
    login = httpx.get(f"{url}/console/login", timeout=10)
    assert login.status_code == 200, login.text[:2000]
    assert "<form" in login.text
    script = httpx.get(f"{url}/console/static/console.js", timeout=10)
    assert script.status_code == 200
    page = httpx.get(f"{url}{served.status_link}", timeout=10)
    assert page.status_code == 200, page.text[:2000]
    assert CLIENT in page.text


def test_installed_server_serves_every_console_page_to_staff(served: Served) -> None:
    with httpx.Client(base_url=served.url, timeout=10) as browser:
        form = browser.get("/console/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert csrf, form.text[:2000]
        login = browser.post(
            "/console/login",
            data={"username": "boss", "password": ADMIN_PASSWORD, "csrf": csrf[1]},
        )
        assert login.status_code == 303, login.text[:2000]
        for page in CONSOLE_PAGES:
            answer = browser.get(page)
            assert answer.status_code == 200, f"{page}: {answer.text[:2000]}"
            assert "<html" in answer.text.lower(), page
