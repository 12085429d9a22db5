"""All configuration through ``Settings`` (issue 10 item 1): a bad value is refused when the settings are read at
start, naming its variable, and no module but ``engine/settings.py`` reads the environment itself."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from engine.settings import Settings

REPO = Path(__file__).resolve().parents[2]
#: Not part of the application: its tests, its benchmarks, installed packages and build output.
NOT_APPLICATION = {"tests", "bench", "node_modules", "oospath.egg-info", "__pycache__"}
#: Reading the environment: ``os.environ``, ``os.getenv`` or an OOSPATH_* variable looked up in a mapping.
READS_ENVIRONMENT = re.compile(r"\bos\.environ\b|\bgetenv\(|\.get\(\s*[\"']OOSPATH_")
#: Passing the whole environment on to a child process is not reading a setting.
CHILD_ENVIRONMENT = re.compile(r"\{\*\*os\.environ\b")


@pytest.mark.parametrize(("variable", "value"), [
    ("OOSPATH_AMQP_QUEUE_TYPE", "fanout"),
    ("OOSPATH_MAX_ATTEMPTS", "0"),
    ("OOSPATH_AMQP_PREFETCH", "twenty"),
    ("OOSPATH_MAX_BPMN_BYTES", "-1"),
    ("OOSPATH_PHYSICIAN_NOTICE_HOURS", "soon"),
])
def test_a_bad_value_is_refused_at_start_naming_its_variable(monkeypatch: pytest.MonkeyPatch, variable: str,
                                                             value: str) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValueError, match=rf"^{variable}="):
        Settings()


def test_the_new_settings_default_from_their_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("OOSPATH_AMQP_URL", "OOSPATH_AMQP_NAMESPACE", "OOSPATH_CLOCK_FILE", "OOSPATH_PARTY_DIRECTORY",
                     "PROMETHEUS_MULTIPROC_DIR", "OOSPATH_MAX_ATTEMPTS", "OOSPATH_SPONSOR_NOTICE_HOURS"):
        monkeypatch.delenv(variable, raising=False)
    defaults = Settings()
    assert (defaults.amqp_url, defaults.amqp_namespace, defaults.amqp_queue_type, defaults.amqp_prefetch) == (
        "amqp://guest:guest@127.0.0.1:5672/%2F", None, "classic", 20)
    assert (defaults.max_attempts, defaults.sponsor_notice_hours) == (5, 24)
    assert defaults.clock_file is defaults.party_directory is defaults.prometheus_multiproc_dir is None
    monkeypatch.setenv("OOSPATH_MAX_ATTEMPTS", "3")
    monkeypatch.setenv("OOSPATH_SPONSOR_NOTICE_HOURS", "1.5")
    monkeypatch.setenv("OOSPATH_CLOCK_FILE", "/tmp/clock")
    configured = Settings()
    assert (configured.max_attempts, configured.sponsor_notice_hours, configured.clock_file) == (
        3, 1.5, Path("/tmp/clock"))


def _application_modules() -> list[Path]:
    found = []
    for directory, subdirectories, files in os.walk(REPO):
        subdirectories[:] = [d for d in subdirectories if not d.startswith(".") and d not in NOT_APPLICATION]
        found += [Path(directory, name) for name in files if name.endswith(".py")]
    return found


def test_only_the_settings_module_reads_the_environment() -> None:
    """Issue 10 item 1, "All configuration through Settings": every OOSPATH_* variable (and prometheus_client's
    PROMETHEUS_MULTIPROC_DIR) is read by ``engine/settings.py``; other modules take a ``Settings``."""
    names = [module.relative_to(REPO).as_posix() for module in _application_modules()]
    assert {"engine/clock.py", "workers/transport/rabbitmq.py", "oospath/cli.py"} <= set(names)
    readers = []
    for name in names:
        if name == "engine/settings.py":
            continue
        for number, line in enumerate((REPO / name).read_text(encoding="utf-8").splitlines(), 1):
            if READS_ENVIRONMENT.search(CHILD_ENVIRONMENT.sub("", line)):
                readers.append(f"{name}:{number}: {line.strip()}")
    assert readers == []


def test_every_variable_of_the_settings_is_documented_in_the_readme() -> None:
    source = (REPO / "engine" / "settings.py").read_text(encoding="utf-8")
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    variables = set(re.findall(r"\b(?:OOSPATH|PROMETHEUS)_[A-Z_]+", source))
    assert "OOSPATH_CLOCK_FILE" in variables
    assert sorted(v for v in variables if f"`{v}`" not in readme) == []
