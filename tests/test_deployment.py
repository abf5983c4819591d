"""docker-compose.yml checked by Compose itself (`docker-compose config`, which `make test` installs from
Debian; no Docker daemon needed), and the image built the way `make run` builds and starts kgrel."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PROFILES = ("cpu", "gpu", "remote")


def compose(*args: str, file: Path = ROOT / "docker-compose.yml") -> subprocess.CompletedProcess:
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.fail("docker-compose is not installed: `make test` installs Debian's docker-compose")
    return subprocess.run([binary, "-f", str(file), *args], capture_output=True, text=True, timeout=120,
                          cwd=file.parent, env={"PATH": "/usr/bin:/bin"})


@pytest.mark.parametrize("profile", PROFILES)
def test_each_profile_is_a_valid_compose_project(profile):
    r = compose("--profile", profile, "config", "-q")
    assert r.returncode == 0, r.stderr


def test_compose_rejects_what_is_wrong(tmp_path):
    # The check can fail: a misspelt option in a copy of our file is refused.
    broken = tmp_path / "docker-compose.yml"
    broken.write_text((ROOT / "docker-compose.yml").read_text().replace("ports:", "portz:", 1))
    r = compose("--profile", "cpu", "config", "-q", file=broken)
    assert r.returncode != 0 and "portz" in r.stderr


def test_the_remote_profile_runs_workers_over_its_sparql_server():
    r = compose("--profile", "remote", "config")
    services = yaml.safe_load(r.stdout)["services"]
    assert r.returncode == 0, r.stderr
    api, sparql = services["api-remote"], services["sparql"]
    assert api["profiles"] == sparql["profiles"] == ["remote"]
    port = re.search(r"--bind\S*\s*\S*:(\d+)", " ".join(sparql["command"])).group(1)
    assert api["environment"]["KGREL_STORE"] == f"http://sparql:{port}/query"
    assert "--union-default-graph" in sparql["command"]  # kgrel reads the default graph as the union
    assert api["command"][api["command"].index("--workers") + 1] == "2"
    # The image's Oxigraph server is the version the remote-store tests start.
    from importlib.metadata import version

    assert sparql["image"].endswith(":" + version("oxigraph"))


def test_the_image_installs_and_starts_kgrel_as_make_run_does():
    makefile, dockerfile = (ROOT / "Makefile").read_text(), (ROOT / "Dockerfile").read_text()
    make_torch = re.search(r"pip install -q torch==(\S+)", makefile).group(1)
    assert re.search(r"ARG TORCH_VERSION=(\S+)", dockerfile).group(1) == make_torch
    steps = re.findall(r"^RUN (.*)$", dockerfile, re.M)
    assert steps == ['pip install "torch==${TORCH_VERSION}" --index-url "${TORCH_INDEX}"', "pip install ."]
    # Every folder the package is built from is copied into the image.
    package_dirs = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
                       .values())
    copied = {m.group(1) for m in re.finditer(r"^COPY (\S+) \1$", dockerfile, re.M)}
    assert package_dirs <= copied
    # The same start: serve the API with the demo graph loaded into an empty store.
    make_run = re.search(r"^run:.*\n\t\$\(BIN\)/(kgrel serve .*)$", makefile, re.M).group(1).split()
    cmd = re.search(r"^CMD (\[.*\])$", dockerfile, re.M).group(1)
    image_run = yaml.safe_load(cmd)
    assert [a for a in make_run if not a.startswith(("$(", "--host", "--port"))] == \
        [a for a in image_run if a not in ("0.0.0.0", "8000") and not a.startswith(("--host", "--port"))]
