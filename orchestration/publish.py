"""Share published datasets with the catalogues (DCAT-AP-NO, Geonorge CSW-T, CKAN): the publishers, given what
they need from the core."""

from __future__ import annotations

from grunndata.kommune import load_kommune
from grunndata.registry import get_registry
from grunndata.settings import get_settings
from grunndata.store import Store
from publishers.targets import Context, Outcome, Secrets, publish


def publish_datasets(store: Store, targets: list[str], dataset_ids: list[str] | None, dry_run: bool
                     ) -> list[Outcome]:
    settings = get_settings()
    ctx = Context(get_registry(settings), store, load_kommune(settings.kommune_file), settings, Secrets(), dry_run)
    return publish(ctx, targets, dataset_ids)
