"""The deployment files: compose.yaml matches the compose specification's JSON schema (always: check-jsonschema is a
dev dependency, no docker needed), ``docker compose config`` accepts it where docker is already installed (nothing
installs docker for this), and every ``BETPIPE_*`` setting compose passes names a real setting, so a typo cannot
silently fall back to a default in production."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from betpipe.config import Settings

REPO = Path(__file__).resolve().parents[1]
COMPOSE = REPO / "compose.yaml"
ENV = {"BETPIPE_API_TOKEN": "compose-check", "POSTGRES_PASSWORD": "compose-check"}


def _compose_command() -> list[str] | None:
    """``docker compose`` (the plugin) when present, else a standalone ``docker-compose``; never installed here."""
    if shutil.which("docker") is not None:
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
        if probe.returncode == 0:
            return ["docker", "compose"]
    standalone = shutil.which("docker-compose")
    return [standalone] if standalone else None


NO_DOCKER = (
    "neither `docker compose` nor `docker-compose` is installed (nothing installs docker for the tests): "
    "`docker compose config` not run; the compose-spec schema check still ran"
)


def _schema_check(path: Path) -> subprocess.CompletedProcess[str]:
    """check-jsonschema's vendored copy of the compose specification's schema: structure and key names, offline."""
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_compose_file_matches_the_compose_specification() -> None:
    result = _schema_check(COMPOSE)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("wrong", "right"),
    [("servicez:", "services:"), ("    restartt: unless-stopped", "    restart: unless-stopped")],
)
def test_the_schema_check_refuses_a_misspelt_key(tmp_path: Path, wrong: str, right: str) -> None:
    """The check above can fail: a misspelt top-level or service key is refused."""
    broken = tmp_path / "compose.yaml"
    broken.write_text(COMPOSE.read_text().replace(right, wrong, 1))
    result = _schema_check(broken)
    assert result.returncode != 0
    assert wrong.strip().rstrip(":").split(":")[0] in result.stdout


def test_docker_compose_config_accepts_the_compose_file() -> None:
    compose = _compose_command()
    if compose is None:
        pytest.skip(NO_DOCKER)
    result = subprocess.run(
        [*compose, "-f", str(COMPOSE), "config", "--quiet"],
        env={**os.environ, **ENV},
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stderr


def test_the_compose_check_refuses_a_broken_compose_file(tmp_path: Path) -> None:
    """The check above can fail: a misspelt top-level key is refused."""
    compose = _compose_command()
    if compose is None:
        pytest.skip(NO_DOCKER)
    broken = tmp_path / "compose.yaml"
    broken.write_text(COMPOSE.read_text().replace("services:", "servicez:", 1))
    result = subprocess.run(
        [*compose, "-f", str(broken), "config", "--quiet"],
        env={**os.environ, **ENV},
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode != 0


def _setting_exists(name: str) -> bool:
    path = name.removeprefix("BETPIPE_").lower().split("__")
    model: Any = Settings
    for part in path:
        fields = getattr(model, "model_fields", None)
        if fields is None or part not in fields:
            return False
        model = fields[part].annotation
    return True


def test_compose_runs_postgres_the_service_and_the_scheduler_with_real_settings() -> None:
    spec = yaml.safe_load(COMPOSE.read_text())
    services = spec["services"]
    assert {"postgres", "migrate", "service", "scheduler", "dashboard"} <= set(services)
    assert services["service"]["command"][0] == "serve"
    assert services["scheduler"]["command"] == ["run"]
    assert services["migrate"]["command"] == ["db", "upgrade"]
    for name in ("service", "scheduler", "migrate", "dashboard"):
        environment = services[name]["environment"]
        assert environment["BETPIPE_DATABASE_URL"].startswith("postgresql+psycopg://")
        unknown = [key for key in environment if key.startswith("BETPIPE_") and not _setting_exists(key)]
        assert unknown == [], f"{name}: {unknown} are not betpipe settings"
    assert "BETPIPE_SERVING__API_TOKEN" in services["service"]["environment"]
    assert "BETPIPE_SCHEDULER__MONITORING_MINUTES" in services["scheduler"]["environment"]  # monitoring is a job
    dockerfile = (REPO / "Dockerfile").read_text()
    assert "FROM python:3.11-slim" in dockerfile
    assert "requirements.lock" in dockerfile


def test_the_dashboard_service_is_read_only_on_its_own_local_port() -> None:
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    dashboard = services["dashboard"]
    assert dashboard["command"][0] == "dashboard"
    port = dashboard["command"][dashboard["command"].index("--port") + 1]
    assert dashboard["ports"] == [f"127.0.0.1:{port}:{port}"]
    published = {p.split(":")[1] for name, s in services.items() if name != "dashboard" for p in s.get("ports", [])}
    assert port not in published  # its own port
    assert dashboard["read_only"] is True
    assert all(volume.endswith(":ro") for volume in dashboard["volumes"])
    secrets = [key for key in dashboard["environment"] if "TOKEN" in key or "API_KEY" in key]
    assert secrets == [], "the dashboard needs no token or API key"
    assert "healthcheck" in dashboard


def test_make_test_changes_nothing_outside_the_virtualenv() -> None:
    """A user's `make test` must not install system packages; CI's tools come from `make ci-tools` in .ci/run."""
    if shutil.which("make") is None:
        pytest.skip("make not installed: the Makefile's recipes cannot be listed")
    planned = subprocess.run(
        ["make", "-n", "-B", "test"], capture_output=True, text=True, check=False, cwd=REPO, env={**os.environ}
    )
    assert planned.returncode == 0, planned.stderr
    for word in ("apt-get", "apt ", "dpkg", "sudo"):
        assert word not in planned.stdout, f"`make test` would run {word!r}"
    steps = [line.strip() for line in (REPO / ".ci" / "run").read_text().splitlines()]
    assert "make ci-tools" in steps
    assert steps.index("make ci-tools") < steps.index("make test")
