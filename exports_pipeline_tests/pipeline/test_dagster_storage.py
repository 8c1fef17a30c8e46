"""An export's run leaves no customer row in Dagster's storage: its event log is never
pruned, so a row's value there would outlive the file retention deleted."""

import datetime as dt
import gzip
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from dagster import DagsterInstance, instance_for_test, serialize_value

from exports_pipeline.pipeline.resources import StoreResource
from exports_pipeline.store import schema
from exports_pipeline.store.exports import ExportRecord
from exports_pipeline_tests.support.runs import serve_queued_export
from exports_pipeline_tests.support.small_store import SPACE

# Values of one customer's row, each found nowhere else (not in the request, not an id).
PROFILE_ID = "profile-q7x31-kestrel"
ORDER_NAME = "Order Q7X31 for Kestrel"
EVENT_URL = "https://shop.example/q7x31/kestrel-checkout"
ROW_VALUES = (PROFILE_ID, ORDER_NAME, EVENT_URL, "Ad One")
REQUEST = {
    "sources": ["facebook_ads", "email"],
    "attribution_model": "linear",
    "attribution_window": 30,
    "fields": ["profile_id", "event_name", "order_name", "event_url", "ad_name"],
}


@pytest.fixture
def dagster_home(tmp_path: Path) -> Path:
    return tmp_path / "dagster"


@pytest.fixture
def home_instance(dagster_home: Path) -> Iterator[DagsterInstance]:
    """A Dagster instance whose every file lies in `dagster_home`."""
    dagster_home.mkdir()
    with instance_for_test(temp_dir=str(dagster_home)) as instance:
        yield instance


def _add_customer(store: StoreResource) -> None:
    """A purchase on the export date whose row carries `ROW_VALUES`, after a touchpoint."""
    with store.engine.begin() as conn:
        conn.execute(sa.insert(schema.profiles), [{"id": PROFILE_ID, "space_id": SPACE}])
        conn.execute(
            sa.insert(schema.touchpoints),
            [
                {
                    "id": 20,
                    "space_id": SPACE,
                    "profile_id": PROFILE_ID,
                    "source": "facebook_ads",
                    "touch_time_utc": dt.datetime(2026, 3, 10, 7),
                    "ad_id": "ad1",
                }
            ],
        )
        conn.execute(
            sa.insert(schema.events),
            [
                {
                    "id": 40,
                    "space_id": SPACE,
                    "profile_id": PROFILE_ID,
                    "event_name": "purchase",
                    "amount": 70,
                    "is_upsell": False,
                    "event_time_utc": dt.datetime(2026, 3, 10, 12),
                    "order_id": "o40",
                    "order_name": ORDER_NAME,
                    "event_url": EVENT_URL,
                }
            ],
        )


def _exported_text(files_root: Path, record: ExportRecord) -> str:
    """The exported rows as text: the one file, or every part of an export in parts."""
    keys = [part.key for part in record.files] if record.files else [record.storage_key]
    return "".join(gzip.decompress((files_root / key).read_bytes()).decode() for key in keys)


def _dagster_storage_text(instance: DagsterInstance, run_id: str, home: Path) -> str:
    """What Dagster keeps of the run: its record (config, tags), every event log entry, and
    the bytes of every file under the instance's home (its databases, their journals)."""
    run = instance.get_run_by_id(run_id)
    assert run is not None
    entries = instance.all_logs(run_id)
    assert any(entry.dagster_event and entry.dagster_event.is_step_success for entry in entries)
    files = [path.read_bytes() for path in home.rglob("*") if path.is_file()]
    return "\n".join(
        [
            serialize_value(run),
            *(serialize_value(entry) for entry in entries),
            *(data.decode("utf-8", errors="replace") for data in files),
        ]
    )


@pytest.mark.parametrize("max_rows_per_file", [None, 1000], ids=["one-file", "parts"])
def test_an_exports_run_leaves_no_row_value_in_dagsters_storage(
    store, resources, home_instance, dagster_home, files_root, max_rows_per_file
):
    _add_customer(store)
    params = dict(REQUEST)
    if max_rows_per_file is not None:
        params["max_rows_per_file"] = max_rows_per_file
    record = serve_queued_export(store, resources, home_instance, params)
    assert (record.files is not None) == (max_rows_per_file is not None)
    exported = _exported_text(files_root, record)
    assert [value for value in ROW_VALUES if value not in exported] == [], exported
    stored = _dagster_storage_text(home_instance, str(record.run_id), dagster_home)
    assert str(record.sha256) in stored  # the search reaches the run's metadata
    assert [value for value in ROW_VALUES if value in stored] == []
