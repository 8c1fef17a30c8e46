"""The Dagster UI never shows a secret: a real dagster-webserver, loading the code location
with local storage and with S3 storage, answers every resource's configured values with the
secrets' variable names and none of their values (issue 21)."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from sqlalchemy.engine import make_url

from exports_pipeline_tests.support.daemon import BIN, REPO, Services, cli, wait_http
from exports_pipeline_tests.support.postgres import fresh_postgres_database
from exports_pipeline_tests.support.served import free_port

pytestmark = pytest.mark.integration

PASSWORD = "s3cr3t-pw-value"
SECRETS = {
    "AWS_ACCESS_KEY_ID": "AKIA-distinctive-key-id",
    "AWS_SECRET_ACCESS_KEY": "distinctive-aws-secret-value",
    "EXPORTS_SIGNING_SECRET": "distinctive-signing-secret-value",
}
LOCATIONS = {
    "exports_pipeline": "exports_pipeline.pipeline.definitions",
    "exports_pipeline_s3": "exports_pipeline_tests.support.s3_location",
}
RESOURCES_QUERY = """
query {
  workspaceOrError {
    ... on Workspace {
      locationEntries {
        name
        locationOrLoadError {
          __typename
          ... on RepositoryLocation {
            repositories {
              allTopLevelResourceDetails { name configuredValues { key value type } }
            }
          }
          ... on PythonError { message }
        }
      }
    }
  }
}
"""


def _workspace(path: Path) -> Path:
    """A workspace of both locations, each as `workspace.yaml` names the real one."""
    entries = [
        {"python_module": {"module_name": module, "attribute": "defs", "location_name": name}}
        for name, module in LOCATIONS.items()
    ]
    path.write_text(yaml.safe_dump({"load_from": entries}))
    return path


@pytest.fixture(scope="module")
def database_url(shared_store_backend: str) -> Iterator[str]:
    """A fresh PostgreSQL database, reached by a URL with a password (the server trusts any)."""
    if shared_store_backend != "postgresql":
        pytest.skip("a password-bearing database URL: PostgreSQL's")
    with fresh_postgres_database("exports_ui_secrets") as url:
        yield make_url(url).set(password=PASSWORD).render_as_string(hide_password=False)


@pytest.fixture(scope="module")
def configured_values(tmp_path_factory: pytest.TempPathFactory, database_url: str) -> Iterator[str]:
    """The webserver's GraphQL answer of every resource's configured values, as text."""
    home = tmp_path_factory.mktemp("ui-secrets-home")
    (home / "dagster").mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster" / "dagster.yaml")
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("EXPORTS_") and k != "DAGSTER_HOME"
    }
    env |= SECRETS | {
        "EXPORTS_HOME": str(home),
        "DAGSTER_HOME": str(home / "dagster"),
        "EXPORTS_DATABASE_URL": database_url,
        "EXPORTS_S3_BUCKET": "exports-ui-secrets",
        "EXPORTS_S3_REGION": "us-east-1",
    }
    cli(env, "db", "upgrade")
    port = free_port()
    workspace = _workspace(home / "workspace.yaml")
    command = [str(BIN / "dagster-webserver"), "-w", str(workspace)]
    services = Services({"webserver": [*command, "-h", "127.0.0.1", "-p", str(port)]}, env, home)
    try:
        services.start("webserver")
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/server_info", services.processes["webserver"], services.log("webserver"))
        response = httpx.post(f"{url}/graphql", json={"query": RESOURCES_QUERY}, timeout=120)
        assert response.status_code == 200, response.text
        yield response.text
    finally:
        services.stop_all()


Shown = dict[str, dict[str, dict[str, tuple[str, str]]]]


def _values(answer: str) -> Shown:
    """Location → resource → field → (type, value) shown, of every resource of every
    location: ENV_VAR and the variable's name, or VALUE and the value as JSON."""
    entries = json.loads(answer)["data"]["workspaceOrError"]["locationEntries"]
    found: Shown = {}
    for entry in entries:
        location = entry["locationOrLoadError"]
        assert location["__typename"] == "RepositoryLocation", location
        (repository,) = location["repositories"]
        found[entry["name"]] = {
            resource["name"]: {
                shown["key"]: (shown["type"], shown["value"])
                for shown in resource["configuredValues"]
            }
            for resource in repository["allTopLevelResourceDetails"]
        }
    return found


def test_the_ui_shows_every_secret_by_its_variable_never_its_value(
    configured_values: str, database_url: str
) -> None:
    for secret in [PASSWORD, database_url, *SECRETS.values()]:
        assert secret not in configured_values
    shown = _values(configured_values)
    assert set(shown) == set(LOCATIONS)
    for resources in shown.values():
        assert resources["store"]["database_url"] == ("ENV_VAR", "EXPORTS_DATABASE_URL")
    local = shown["exports_pipeline"]["export_storage"]
    assert local["signing_secret"] == ("ENV_VAR", "EXPORTS_SIGNING_SECRET")
    s3 = shown["exports_pipeline_s3"]["export_storage"]
    assert s3["aws_access_key_id"] == ("ENV_VAR", "AWS_ACCESS_KEY_ID")
    assert s3["aws_secret_access_key"] == ("ENV_VAR", "AWS_SECRET_ACCESS_KEY")
    # The settings that are no secret are shown as they are.
    assert s3["s3_bucket"] == ("VALUE", '"exports-ui-secrets"')
