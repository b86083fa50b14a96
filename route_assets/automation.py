"""Automation: the brief-folder sensor, the re-roll sensor and the nightly refresh schedule.

All three target `creative_job` by name: importing `route_assets.definitions` here would be
circular once definitions lists these sensors. For the same reason `route_assets.runner` (which
imports definitions) is imported inside the functions that need `provider_tags`.
"""

import json
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import dagster as dg

from route_assets import settings
from route_assets.assets.common import ad_set_partitions
from route_assets.assets.flaw_classification import USABLE_CHECK
from route_assets.assets.video_expansion import ATTEMPT_TAG as VIDEO_ATTEMPT_TAG
from route_assets.assets.video_expansion import SEED_CHECK
from route_assets.assets.video_expansion import STAGE as VIDEO_STAGE
from route_assets.brief import (
    Brief,
    BriefError,
    parse_brief_text,
    registered_brief,
    save_brief,
)
from route_assets.brief_sources import briefs_location, read_briefs
from route_assets.catalog import LOCAL
from route_assets.db import engine_for
from route_assets.ledger import Ledger
from route_assets.partitions import PARTITIONS_NAME, AdSetKey, InvalidKeyError
from route_assets.routing import NoRouteError
from route_assets.storage import CreativeStore, open_store

JOB_NAME = "creative_job"
MAX_RUN_REQUESTS = 200  # per tick, so a huge brief folder cannot stall the daemon
SHA_TAG = "ad_set_sha"  # lets the re-roll sensor tell a stale failure from the current ad set
REROLL_LOOKBACK = timedelta(hours=24)  # first tick only: don't re-roll ancient failures


def _store() -> CreativeStore:
    # Built exactly as StoreResource does, so sensors read and write the store that runs use.
    return open_store(settings.store_url(), endpoint_url=settings.s3_endpoint_url())


def _available() -> frozenset[str]:
    return frozenset({LOCAL, *settings.providers()})


def generation_config(attempt: int, variant: str) -> dict[str, Any]:
    return {"ops": {"base_generation": {"config": {"attempt": attempt, "variant": variant}}}}


def _run_tags(brief: Brief, key: AdSetKey, attempt: int) -> dict[str, str]:
    from route_assets.runner import provider_tags  # see module docstring: import cycle

    return {
        "campaign": key.campaign,
        "attempt": str(attempt),
        SHA_TAG: brief.ad_set(key.ad_set).sha,
        **provider_tags(brief, key.ad_set, _available()),
    }


def _first_attempt(brief: Brief, key: AdSetKey, *, run_key: str, variant: str, log: Any,
                   extra_tags: dict[str, str] | None = None) -> dg.RunRequest | None:
    """A run of the partition's first attempt (seeds from `variant`), or None when routing
    finds no model for it (logged, so one bad ad set never stops the tick)."""
    try:
        tags = _run_tags(brief, key, attempt=0)
    except NoRouteError as exc:
        log.warning(f"{key}: no route, not requested: {exc}")
        return None
    return dg.RunRequest(run_key=run_key, partition_key=str(key),
                         run_config=generation_config(0, variant),
                         tags={**tags, **(extra_tags or {})})


def _load_briefs(files: list[tuple[str, str]], log: Any) -> tuple[list[Brief], list[str]]:
    """Valid briefs, and one line per invalid file (a bad file never stops the others)."""
    briefs: list[Brief] = []
    invalid: list[str] = []
    owners: dict[str, str] = {}
    for source, text in files:
        name = source.rsplit("/", 1)[-1]
        try:
            brief = parse_brief_text(text, source=source)
        except BriefError as exc:
            log.warning(str(exc))
            invalid.append(name)
            continue
        if brief.campaign in owners:
            # Two files for one campaign would overwrite each other's snapshot every tick.
            log.warning(
                f"{source}: campaign {brief.campaign!r} is already defined by "
                f"{owners[brief.campaign]}; give each campaign one brief file"
            )
            invalid.append(name)
            continue
        owners[brief.campaign] = source
        briefs.append(brief)
    return briefs, invalid


def _register_if_changed(store: CreativeStore, brief: Brief) -> None:
    """Save the snapshot runs read, but only when it differs (an S3 PUT per tick adds up)."""
    try:
        if registered_brief(store, brief.campaign).sha() == brief.sha():
            return
    except BriefError:
        pass  # not registered yet, or an unreadable snapshot: overwrite it
    save_brief(store, brief)


@dg.sensor(
    job_name=JOB_NAME,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Briefs folder (ROUTE_ASSETS_BRIEFS) -> partitions, and one run per new or "
    "changed ad set.",
)
def brief_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
    location = briefs_location()
    files = read_briefs(location)
    if files is None:
        return dg.SkipReason(f"briefs folder {location} does not exist (set ROUTE_ASSETS_BRIEFS "
                             "to a folder or an s3://bucket/prefix)")
    # The cursor remembers which ad-set version (sha) was requested: run keys alone would make
    # every tick re-return the same first MAX_RUN_REQUESTS and never reach the rest.
    state = json.loads(context.cursor) if context.cursor else {}
    requested: dict[str, str] = state.get("requested", {})
    briefs, invalid = _load_briefs(files, context.log)
    store = _store()
    known = set(context.instance.get_dynamic_partitions(PARTITIONS_NAME))
    new_keys: list[str] = []
    run_requests: list[dg.RunRequest] = []
    for brief in briefs:
        _register_if_changed(store, brief)
        for key in brief.partition_keys():
            partition = str(key)
            if partition not in known:
                new_keys.append(partition)
            sha = brief.ad_set(key.ad_set).sha
            if requested.get(partition) == sha or len(run_requests) >= MAX_RUN_REQUESTS:
                continue
            request = _first_attempt(brief, key, run_key=f"brief:{partition}:{sha}", variant="",
                                     log=context.log)
            if request is not None:
                run_requests.append(request)
                requested[partition] = sha
    cursor = json.dumps({"requested": requested, "invalid": invalid}, sort_keys=True)
    partition_requests = [ad_set_partitions.build_add_request(new_keys)] if new_keys else []
    if run_requests or partition_requests:
        return dg.SensorResult(
            run_requests=run_requests,
            dynamic_partitions_requests=partition_requests,
            cursor=cursor,
        )
    bad = f"; invalid brief(s): {', '.join(invalid)}" if invalid else ""
    return dg.SensorResult(skip_reason=f"no new or changed ad sets{bad}", cursor=cursor)


def _failed_check(instance: dg.DagsterInstance, run_id: str, name: str
                  ) -> dict[str, Any] | None:
    """The metadata of the run's failed check called `name` (empty when it has none), or None
    when no such check failed."""
    for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION):
        data = entry.dagster_event.event_specific_data if entry.dagster_event else None
        if getattr(data, "check_name", None) == name and not getattr(data, "passed", True):
            metadata = getattr(data, "metadata", None) or {}
            return {k: getattr(v, "value", v) for k, v in metadata.items()}
    return None


def _current_brief(run: dg.DagsterRun, store: CreativeStore, log: Any
                   ) -> tuple[str, AdSetKey, Brief] | None:
    """The failed run's partition, key and registered brief, or None (logged why) when the
    brief is gone or broken, or the ad set changed since the run (the brief sensor re-runs it)."""
    partition = run.tags.get("dagster/partition", "")
    try:
        key = AdSetKey.parse(partition)
        brief = registered_brief(store, key.campaign)
        sha = brief.ad_set(key.ad_set).sha
    except (InvalidKeyError, BriefError, KeyError) as exc:
        log.warning(f"run {run.run_id}: not re-rolled: {exc}")
        return None
    if run.tags.get(SHA_TAG, sha) != sha:
        log.info(f"{partition}: ad set changed since run {run.run_id}; the brief sensor re-runs it")
        return None
    return partition, key, brief


def _reroll_request(run: dg.DagsterRun, store: CreativeStore, log: Any) -> dg.RunRequest | None:
    """The next attempt for a run whose candidates were all unusable, or None (logged why)."""
    found = _current_brief(run, store, log)
    if found is None:
        return None
    partition, key, brief = found
    sha = brief.ad_set(key.ad_set).sha
    ops = run.run_config.get("ops")
    config = ops.get("base_generation", {}).get("config", {}) if isinstance(ops, dict) else {}
    attempt = int(run.tags.get("attempt", config.get("attempt", 0)))
    variant = str(config.get("variant", ""))
    limit = brief.effective_policy().max_rerolls
    if attempt >= limit:
        log.warning(
            f"{partition}: no usable candidate after attempt {attempt}; max_rerolls={limit} "
            "reached, not re-rolling (raise policy.max_rerolls in the brief to allow more)"
        )
        return None
    # Keep the original tags (campaign, provider/*, refresh) but not Dagster's own.
    tags = {k: v for k, v in run.tags.items() if not k.startswith(("dagster/", ".dagster"))}
    return dg.RunRequest(
        # The sha keeps re-rolls of an edited ad set from colliding with the old version's keys.
        run_key=f"reroll:{partition}:{variant}:{attempt + 1}:{sha}",
        partition_key=partition,
        run_config=generation_config(attempt + 1, variant),
        tags={**tags, "attempt": str(attempt + 1)},
    )


def _video_reroll_request(run: dg.DagsterRun, check: dict[str, Any], store: CreativeStore,
                          ledger: Ledger, log: Any) -> dg.RunRequest | None:
    """The next video attempt (new seeds, same keyframe: only video_expansion runs) for a run
    whose K seeds all failed, or None (logged why): bounded by the policy's max_rerolls and by
    what the campaign budget has left for the retry the failed run priced."""
    found = _current_brief(run, store, log)
    if found is None:
        return None
    partition, key, brief = found
    video_attempt = int(run.tags.get(VIDEO_ATTEMPT_TAG, "0"))
    limit = brief.effective_policy().max_rerolls
    if video_attempt >= limit:
        log.warning(
            f"{partition}: every video seed failed on video attempt {video_attempt}; "
            f"max_rerolls={limit} reached, not re-rolling the video"
        )
        return None
    retry = float(check.get("retry_cost_usd") or 0.0)
    left = brief.budget_usd - ledger.committed(key.campaign)
    if retry > left + 1e-9:
        log.warning(
            f"{partition}: every video seed failed; another try would cost ${retry:.2f} but the "
            f"campaign has ${max(left, 0.0):.2f} of its budget left, not re-rolling the video"
        )
        return None
    tags = {k: v for k, v in run.tags.items() if not k.startswith(("dagster/", ".dagster"))}
    return dg.RunRequest(
        # Keyed on the failed run: however often its failure is seen, it is re-rolled once.
        run_key=f"video-reroll:{partition}:{video_attempt + 1}:{run.run_id}",
        partition_key=partition,
        asset_selection=[dg.AssetKey(VIDEO_STAGE)],  # the keyframe is paid for and kept
        tags={**tags, VIDEO_ATTEMPT_TAG: str(video_attempt + 1)},
    )


@dg.sensor(
    job_name=JOB_NAME,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Failed creative_job runs whose usable_candidate check failed -> the next "
    "attempt (new seeds), up to the brief's max_rerolls; runs whose usable_seed check failed "
    "(every video seed broken) -> video_expansion alone with new seeds, within max_rerolls "
    "and the budget.",
)
def reroll_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
    # Cursor: the update time of the last failed run seen (runs are read oldest first).
    since = (
        datetime.fromisoformat(context.cursor)
        if context.cursor
        else datetime.now(UTC) - REROLL_LOOKBACK
    )
    records = context.instance.get_run_records(
        filters=dg.RunsFilter(
            job_name=JOB_NAME, statuses=[dg.DagsterRunStatus.FAILURE], updated_after=since
        ),
        limit=MAX_RUN_REQUESTS,
        order_by="update_timestamp",
        ascending=True,
    )
    store = _store()
    ledger: Ledger | None = None
    requests: list[dg.RunRequest] = []
    for record in records:
        run = record.dagster_run
        if _failed_check(context.instance, run.run_id, USABLE_CHECK) is not None:
            request = _reroll_request(run, store, context.log)
        elif (seed_check := _failed_check(context.instance, run.run_id, SEED_CHECK)) is not None:
            ledger = ledger or Ledger(engine_for(settings.db_url()))
            request = _video_reroll_request(run, seed_check, store, ledger, context.log)
        else:
            continue
        if request is not None:
            requests.append(request)
    cursor = records[-1].update_timestamp.isoformat() if records else context.cursor
    if requests:
        return dg.SensorResult(run_requests=requests, cursor=cursor)
    return dg.SensorResult(skip_reason="no failed run needs a re-roll", cursor=cursor)


def _partitions_by_campaign(instance: dg.DagsterInstance) -> dict[str, list[AdSetKey]]:
    out: dict[str, list[AdSetKey]] = defaultdict(list)
    for partition in instance.get_dynamic_partitions(PARTITIONS_NAME):
        try:
            key = AdSetKey.parse(partition)
        except InvalidKeyError:
            continue  # added by hand with a bad key: nothing can run it anyway
        out[key.campaign].append(key)
    return out


@dg.schedule(
    job_name=JOB_NAME,
    cron_schedule="0 * * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Hourly; each campaign with refresh.nightly gets fresh variants (the local date "
    "as variant, so new seeds) at refresh.hour in its refresh.timezone.",
)
def nightly_refresh(context: dg.ScheduleEvaluationContext) -> list[dg.RunRequest] | dg.SkipReason:
    # Hourly in UTC rather than one cron per campaign: each campaign has its own local hour.
    now = context.scheduled_execution_time or datetime.now(UTC)
    store = _store()
    requests: list[dg.RunRequest] = []
    for campaign, keys in sorted(_partitions_by_campaign(context.instance).items()):
        try:
            brief = registered_brief(store, campaign)
        except BriefError as exc:
            context.log.warning(f"campaign {campaign!r} skipped: {exc}")
            continue
        local = now.astimezone(ZoneInfo(brief.refresh.timezone))
        if not brief.refresh.nightly or local.hour != brief.refresh.hour:
            continue
        day = local.strftime("%Y-%m-%d")
        current = set(brief.partition_keys())  # ad sets removed from the brief cannot run
        for key in sorted(k for k in keys if k in current):
            request = _first_attempt(brief, key, run_key=f"nightly:{day}:{key}", variant=day,
                                     log=context.log, extra_tags={"refresh": "nightly"})
            if request is not None:
                requests.append(request)
    return requests or dg.SkipReason(f"no campaign refreshes at {now:%Y-%m-%d %H:%M} UTC")


SENSORS = [brief_sensor, reroll_sensor]
SCHEDULES = [nightly_refresh]
