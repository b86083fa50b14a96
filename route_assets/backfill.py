"""`route-assets backfill`: localize a campaign's ad sets for another market and launch a Dagster
asset backfill of the five stages for exactly the new partitions (it shows on the UI's
backfills page; the daemon runs it).

The derivation (`localize_ad_sets`, `extend_brief`) is pure; only `backfill_command` touches the
store, the instance and the webserver.
"""

import sys
import time
from collections.abc import Sequence
from typing import Any, NoReturn

import click
import dagster as dg
import httpx

from route_assets import settings
from route_assets.brief import AdSet, Brief, BriefError, Market, parse_brief
from route_assets.partitions import AdSetKey

DEFAULT_GRAPHQL_URL = "http://127.0.0.1:3000/graphql"
EXIT_INVALID = 2
PROMPT_MAX = 2000  # AdSet.prompt's limit

LAUNCH = """mutation Launch($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on Error { message }
  } }"""
PARTITION_KEYS = """{ assetNodeOrError(assetKey: {path: ["base_generation"]}) {
  ... on AssetNode { partitionKeys } } }"""


class BackfillError(ValueError):
    """A backfill request that cannot be met; the message names the brief, the field and the fix."""


class ForeignWebserverError(BackfillError):
    """The webserver answering serves another Dagster instance than this DAGSTER_HOME."""


def _market(brief: Brief, market_id: str, *, source: str, role: str) -> Market:
    for market in brief.markets:
        if market.id == market_id:
            return market
    known = ", ".join(m.id for m in brief.markets)
    raise BackfillError(
        f"{source}: markets: no market {market_id!r} ({role}); fix: add "
        f"`- {{id: {market_id}, locale: <e.g. de-DE>, headline: <localized headline>}}` under "
        f"markets (its locale and headline are what the localized ad sets use), or use one of: "
        f"{known}"
    )


def localized_id(ad_set_id: str, source_market: str, market: str) -> str:
    """`us-hero` -> `de-hero`; ids without the source market's prefix get `de-` prepended."""
    prefix = f"{source_market}-"
    if ad_set_id.startswith(prefix):
        return f"{market}-{ad_set_id.removeprefix(prefix)}"
    return f"{market}-{ad_set_id}"


def localized_prompt(prompt: str, market: Market) -> str:
    """The source prompt plus a locale hint, so hosted models render text and setting for the
    market; the prompt is shortened rather than the hint dropped when the limit is near."""
    hint = f" Localized for the {market.locale} market: any visible text in {market.locale}."
    return prompt[: PROMPT_MAX - len(hint)].rstrip() + hint


def localize_ad_sets(
    brief: Brief,
    market: str,
    *,
    source_market: str | None = None,
    headline: str | None = None,
    source: str = "brief",
) -> list[AdSet]:
    """Localized copies for `market` of every ad set of `source_market` (default: the brief's
    first market). Ids the brief already has are left out: a hand-written ad set wins."""
    src = source_market or brief.markets[0].id
    _market(brief, src, source=source, role="--from-market")
    target = _market(brief, market, source=source, role="--market")
    if src == market:
        raise BackfillError(
            f"{source}: markets: --market {market!r} is also the source market; fix: pass "
            "--from-market with the market whose ad sets to localize"
        )
    originals = [a for a in brief.ad_sets if a.market == src]
    if not originals:
        raise BackfillError(
            f"{source}: ad_sets: no ad set has market {src!r}, so there is nothing to localize; "
            "fix: pass --from-market with a market that has ad sets"
        )
    existing = {a.id for a in brief.ad_sets}
    out = []
    for ad_set in originals:
        new_id = localized_id(ad_set.id, src, market)
        if new_id in existing:
            continue
        # The source's own headline is in the source language, so the copy takes --headline
        # or falls back to the market entry's localized headline.
        out.append(
            ad_set.model_copy(
                update={
                    "id": new_id,
                    "market": target.id,
                    "headline": headline,
                    "prompt": localized_prompt(ad_set.prompt, target),
                }
            )
        )
    return out


def extend_brief(
    brief: Brief, new: Sequence[AdSet], *, carried: Sequence[AdSet] = (), source: str = "brief"
) -> Brief:
    """The brief plus `new` (and `carried`: ad sets only the registered snapshot has, so the
    partitions of earlier backfills keep resolving), validated like any brief."""
    data = brief.model_dump(mode="json")
    data["ad_sets"] += [a.model_dump(mode="json") for a in [*carried, *new]]
    try:
        return parse_brief(data, source=f"{source} (localized)")
    except BriefError as exc:
        raise BackfillError(str(exc)) from None


def carried_over(brief: Brief, registered: Brief | None, new: Sequence[AdSet]) -> list[AdSet]:
    """Ad sets of the registered snapshot that neither the brief file nor `new` has (earlier
    backfills' copies), whose market the brief still has; `new` wins over an older copy."""
    if registered is None:
        return []
    ids = {a.id for a in [*brief.ad_sets, *new]}
    markets = {m.id for m in brief.markets}
    return [a for a in registered.ad_sets if a.id not in ids and a.market in markets]


def already_made(instance: dg.DagsterInstance, partitions: Sequence[str]) -> set[str]:
    """Partitions every stage asset has materialized: launching them again would be waste."""
    from route_assets.definitions import STAGE_ASSETS

    done = set(partitions)
    for asset in STAGE_ASSETS:
        done &= instance.get_materialized_partitions(asset.key)
    return done


def _graphql(url: str, query: str, variables: dict[str, Any] | None = None,
             timeout: float = 30) -> dict[str, Any]:
    response = httpx.post(url, json={"query": query, "variables": variables or {}},
                          timeout=timeout)
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    if body.get("errors"):
        raise BackfillError(f"{url}: GraphQL errors: {body['errors']}")
    return dict(body["data"])


def reachable(url: str) -> bool:
    try:
        _graphql(url, "{ version }", timeout=2)  # a probe: never hold the command up
    except (httpx.HTTPError, BackfillError, ValueError, KeyError):
        return False
    return True


def launch_via_graphql(
    url: str, partitions: Sequence[str], tags: dict[str, str], title: str
) -> str:
    """`launchPartitionBackfill` with an asset selection: an asset backfill, as the UI makes."""
    from route_assets.definitions import STAGE_ASSETS

    # A webserver over another DAGSTER_HOME would not know the partitions just registered.
    node = _graphql(url, PARTITION_KEYS)["assetNodeOrError"]
    missing = set(partitions) - set(node.get("partitionKeys") or [])
    if missing:
        raise ForeignWebserverError(
            f"{url} does not see partitions {sorted(missing)}: it serves another Dagster "
            f"instance than {settings.dagster_home()}; fix: start it with this DAGSTER_HOME, or "
            "pass --graphql-url of the webserver that does"
        )
    params = {
        "partitionNames": list(partitions),
        "assetSelection": [{"path": list(a.key.path)} for a in STAGE_ASSETS],
        "tags": [{"key": k, "value": v} for k, v in tags.items()],
        "title": title,
    }
    result = _graphql(url, LAUNCH, {"params": params})["launchPartitionBackfill"]
    if result["__typename"] != "LaunchBackfillSuccess":
        raise BackfillError(f"{url}: {result['__typename']}: {result.get('message', '')}")
    return str(result["backfillId"])


def launch_on_instance(
    instance: dg.DagsterInstance, partitions: Sequence[str], tags: dict[str, str], title: str
) -> str:
    """The same asset backfill written straight to the instance (no webserver). Dagster 1.13
    has no public API for this; these are the calls its GraphQL mutation makes."""
    from dagster._core.execution.backfill import PartitionBackfill
    from dagster._core.utils import make_new_backfill_id

    from route_assets.definitions import STAGE_ASSETS, defs

    backfill = PartitionBackfill.from_asset_partitions(
        backfill_id=make_new_backfill_id(),
        asset_graph=defs.resolve_asset_graph(),
        partition_names=list(partitions),
        asset_selection=[a.key for a in STAGE_ASSETS],
        backfill_timestamp=time.time(),
        tags=tags,
        dynamic_partitions_store=instance,
        all_partitions=False,
        title=title,
        description=None,
        run_config=None,
    )
    instance.add_backfill(backfill)
    return backfill.backfill_id


def _fail(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(EXIT_INVALID)


@click.command("backfill")
@click.argument("brief", type=click.Path(dir_okay=False))
@click.option("--campaign", required=True, help="The brief's campaign id (a safety check).")
@click.option("--market", required=True, help="Market to localize for (in the brief's markets).")
@click.option("--from-market", default=None, help="Market whose ad sets to copy [first market].")
@click.option("--headline", default=None, help="Headline for the copies [the market's].")
@click.option("--graphql-url", default=None,
              help=f"Webserver to launch through [{DEFAULT_GRAPHQL_URL} if it answers, else "
                   "the instance directly].")
def backfill_command(brief: str, campaign: str, market: str, from_market: str | None,
                     headline: str | None, graphql_url: str | None) -> None:
    """Localize CAMPAIGN's ad sets for MARKET and launch an asset backfill of the new ones."""
    from route_assets.brief import load_brief, registered_brief
    from route_assets.catalog import LOCAL
    from route_assets.instance import persistent_instance
    from route_assets.runner import provider_tags, register
    from route_assets.storage import open_store

    try:
        parsed = load_brief(brief)
        if parsed.campaign != campaign:
            raise BackfillError(f"{brief}: campaign: the brief is campaign {parsed.campaign!r}, "
                                f"not {campaign!r}; fix: pass --campaign {parsed.campaign}")
        new = localize_ad_sets(parsed, market, source_market=from_market, headline=headline,
                               source=brief)
        store = open_store(settings.store_url(), endpoint_url=settings.s3_endpoint_url())
        try:
            registered: Brief | None = registered_brief(store, campaign)
        except BriefError:
            registered = None
        extended = extend_brief(parsed, new, carried=carried_over(parsed, registered, new),
                                source=brief)
    except (BriefError, BackfillError) as exc:
        _fail(str(exc))
    instance = persistent_instance()
    # Register everything first (as `run` does): the snapshot is what the stages read.
    register(instance, store, extended)
    # The market's localized copies: this call's, and earlier calls' (a failed backfill is
    # retried); the file's own ad sets are `route-assets run`'s business.
    own = {a.id for a in parsed.ad_sets}
    wanted = [str(AdSetKey(campaign, a.id)) for a in extended.ad_sets
              if a.market == market and a.id not in own]
    made = already_made(instance, wanted)
    partitions = [p for p in wanted if p not in made]
    for p in sorted(made):
        click.echo(f"{p}: already made, not launched again")
    if not partitions:
        click.echo(f"nothing to backfill for {campaign} in market {market}")
        return
    available = frozenset({LOCAL, *settings.providers()})
    tags = {"campaign": campaign, "route_assets/market": market}
    for p in partitions:
        tags.update(provider_tags(extended, AdSetKey.parse(p).ad_set, available))
    title = f"localize {campaign} for {market}"
    url = graphql_url or (DEFAULT_GRAPHQL_URL if reachable(DEFAULT_GRAPHQL_URL) else None)
    backfill_id = ""
    try:
        if url:
            try:
                backfill_id = launch_via_graphql(url, partitions, tags, title)
            except ForeignWebserverError:
                if graphql_url:  # asked for by name: say so rather than launch elsewhere
                    raise
                url = None  # only the default port answered, for some other project
        backfill_id = backfill_id or launch_on_instance(instance, partitions, tags, title)
    except (BackfillError, httpx.HTTPError) as exc:
        _fail(str(exc))
    click.echo(f"registered {len(partitions)} partition(s): {', '.join(partitions)}")
    click.echo(f"backfill {backfill_id} launched via {url or 'the instance'} "
               f"({settings.dagster_home()}); the daemon runs it")
    ui = (url or DEFAULT_GRAPHQL_URL).removesuffix("/graphql")
    click.echo(f"UI: {ui}/overview/backfills/{backfill_id}")
