"""Without EXPORTS_SIGNING_SECRET, every process of one EXPORTS_HOME signs with one random
secret, generated once into that home (mode 0600); a set secret is used as it is."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pydantic import ValidationError

from exports_pipeline.private_files import load_or_create_secret
from exports_pipeline.settings import Settings, describe_invalid_settings
from exports_pipeline.storage.factory import build_storage
from exports_pipeline.storage.local import LocalExportStorage

# What each process does with the secret: the API builds its storage from the settings, a
# run gets it from the code location's resource. All start at the same instant.
API = (
    "from exports_pipeline.settings import Settings\n"
    "from exports_pipeline.storage.factory import build_storage\n"
    "storage = build_storage(Settings())"
)
RUN = (
    "from exports_pipeline.pipeline.definitions import defs\n"
    "storage = defs().resources['export_storage'].get_storage()"
)
PROCESS = """
import sys, time
time.sleep(max(0.0, float(sys.argv[1]) - time.time()))
{build}
print(storage.signing_secret)
"""


def _environment(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXPORTS_")}
    return {**env, "EXPORTS_HOME": str(home), "EXPORTS_STORAGE": "local"}


def test_processes_of_one_home_starting_at_once_share_one_generated_secret(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    start_at = str(time.time() + 3)
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", PROCESS.format(build=build), start_at],
            env=_environment(home),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for build in (API, RUN, API, RUN, API, RUN)
    ]
    secrets = set()
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        secrets.add(out.strip())
    secret_file = home.resolve() / "signing-secret"
    assert secrets == {secret_file.read_text().strip()}
    assert len(secrets.pop()) >= 43  # 32 random bytes
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    assert [p.name for p in secret_file.parent.iterdir()] == ["signing-secret"]


def test_another_home_gets_another_secret(tmp_path: Path) -> None:
    first = load_or_create_secret(tmp_path / "a" / "signing-secret", what="signing secret")
    assert load_or_create_secret(tmp_path / "a" / "signing-secret", what="signing secret") == first
    assert load_or_create_secret(tmp_path / "b" / "signing-secret", what="signing secret") != first


def test_a_set_secret_is_used_and_nothing_is_generated(tmp_path: Path) -> None:
    mine = "mine-and-at-least-32-bytes-long!"
    storage = build_storage(Settings(home=tmp_path, storage="local", signing_secret=mine))
    assert isinstance(storage, LocalExportStorage)
    assert storage.signing_secret == mine
    assert not (tmp_path / "signing-secret").exists()


def test_an_empty_secret_file_is_an_error_naming_it(tmp_path: Path) -> None:
    (tmp_path / "signing-secret").write_text("\n")
    with pytest.raises(ValueError, match="signing-secret is empty"):
        build_storage(Settings(home=tmp_path, storage="local", signing_secret=None))


@pytest.mark.parametrize("secret", ["x" * 31, "short", "é" * 15])
def test_a_set_secret_under_32_bytes_is_refused_naming_its_variable(
    tmp_path: Path, secret: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(home=tmp_path, signing_secret=secret)
    described = describe_invalid_settings(refused.value)
    assert described.splitlines()[1:] == [
        "  EXPORTS_SIGNING_SECRET: Value error, must be at least 32 bytes long"
    ]
    assert secret not in described


@pytest.mark.parametrize("secret", ["x" * 32, "é" * 16, ""])
def test_a_secret_of_32_bytes_is_taken_and_an_empty_one_is_unset(
    tmp_path: Path, secret: str
) -> None:
    # Bytes are counted, not characters: 16 two-byte characters are 32 bytes.
    assert Settings(home=tmp_path, signing_secret=secret).signing_secret == secret
