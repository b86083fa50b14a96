"""Paid requests for one stage of one ad set: the request cache first, then a budget
reservation, then the provider; on a moderation refusal or an outage, the next model the policy
allows. Every call leaves a cost line, and every fallback leaves its reason."""

import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import Any

import dagster as dg

from route_assets.assets.common import StageInput, cost_metadata
from route_assets.catalog import LOCAL, load_catalog
from route_assets.costs import CostLine
from route_assets.engines.registry import Engines
from route_assets.ledger import BudgetExceeded, Ledger
from route_assets.providers.base import GeneratedImage, GeneratedVideo
from route_assets.providers.errors import (
    FALLBACK_ERRORS,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
)
from route_assets.providers.hosted import SubmissionStateUnknown
from route_assets.request_cache import CachedResult, cached_call
from route_assets.routing import Decision, Need, NoRouteError, route
from route_assets.storage import CreativeStore

Generated = GeneratedImage | GeneratedVideo
AMBIGUOUS = (ProviderTimeout, SubmissionStateUnknown)  # submitted, or maybe: may be billed


def _payload(result: Generated) -> tuple[bytes, str, float]:
    data = result.png if isinstance(result, GeneratedImage) else result.mp4
    return data, result.request_id, result.cost_usd


class Spender:
    def __init__(
        self,
        *,
        context: dg.AssetExecutionContext,
        store: CreativeStore,
        engines: Engines,
        ledger: Ledger,
        inp: StageInput,
        stage: str,
        need: Need,
    ) -> None:
        self._context, self._store, self._engines, self._ledger = context, store, engines, ledger
        self._inp, self._stage, self._need = inp, stage, need
        self._avoid: dict[tuple[str, str], str] = {}
        self.fallbacks: list[str] = []
        self.lines: list[CostLine] = []
        self.decision = self._route()

    def _route(self) -> Decision:
        try:
            return route(
                self._need,
                self._inp.policy,
                load_catalog(),
                self._engines.available_providers,
                avoid=self._avoid,
            )
        except NoRouteError as exc:
            raise dg.Failure(f"{self._inp.key} {self._stage}: {exc}", allow_retries=False) from None

    def call(
        self, kind: str, build: Callable[[Decision], Any], *, seed: int, need: Need | None = None
    ) -> CachedResult:
        """Make (or reuse) one output; `build` turns the current decision into a request.
        A different `need` (another clip length) re-routes, keeping what already failed."""
        if need is not None and need != self._need:
            self._need = need
            self.decision = self._route()
        while True:
            decision = self.decision
            request = build(decision)
            engine = (
                self._engines.image_generator(decision.provider).generate
                if kind == "image"
                else self._engines.image_editor(decision.provider).edit
                if kind == "edit"
                else self._engines.video_generator(decision.provider).animate
            )
            payload = {"provider": decision.provider, **request.__dict__}
            try:
                hit, cached = cached_call(
                    self._store,
                    kind=kind,
                    payload=payload,
                    suffix=".mp4" if kind == "video" else ".png",
                    seed=seed,
                    make=functools.partial(self._paid, decision, engine, request),
                )
            except FALLBACK_ERRORS as exc:
                if isinstance(exc, ProviderUnavailable) and exc.request_id:
                    # The job exists and may be billed: a re-run resumes it from the journal,
                    # whereas another model would pay a second time.
                    raise
                self._fall_back(decision, exc)
                continue
            self.lines.append(
                CostLine(
                    campaign=self._inp.key.campaign,
                    ad_set=self._inp.key.ad_set,
                    stage=self._stage,
                    model=decision.model,
                    provider=decision.provider,
                    usd=0.0 if cached else hit.cost_usd,
                    request_id=hit.request_id,
                    cached=cached,
                    simulated=decision.provider == LOCAL,
                    saved_usd=hit.cost_usd if cached else 0.0,
                )
            )
            return hit

    def next_route(self, reason: str) -> bool:
        """Leave the current model for the next one the policy allows (its result failed the
        stage's own checks); False when none is left."""
        decision = self.decision
        self._avoid[decision.model, decision.provider] = reason
        self.fallbacks.append(f"{decision.model} via {decision.provider}: {reason}")
        try:
            self.decision = route(self._need, self._inp.policy, load_catalog(),
                                  self._engines.available_providers, avoid=self._avoid)
        except NoRouteError:
            return False
        return True

    def _fall_back(self, decision: Decision, exc: ProviderError) -> None:
        reason = type(exc).__name__
        self._avoid[decision.model, decision.provider] = reason
        self.fallbacks.append(f"{decision.model} via {decision.provider}: {exc}")
        self._context.log.warning(
            f"falling back from {decision.model} via {decision.provider}: {exc}"
        )
        self.decision = self._route()

    def _paid(
        self, decision: Decision, engine: Callable[[Any], Generated], request: Any
    ) -> tuple[bytes, str, float]:
        estimate = decision.estimated_cost_usd / max(1, self._need.count)
        try:
            reservation = self._ledger.reserve(
                campaign=self._inp.key.campaign,
                budget_usd=self._inp.brief.budget_usd,
                amount_usd=estimate,
                stage=self._stage,
                model=decision.model,
                provider=decision.provider,
            )
        except BudgetExceeded as exc:
            raise dg.Failure(str(exc), allow_retries=False) from None
        try:
            data, request_id, cost = _payload(engine(request))
        except AMBIGUOUS:
            # The provider may have the job and bill it: keep the money reserved.
            raise
        except BaseException:
            self._ledger.release(reservation)
            raise
        self._ledger.settle(reservation, actual_usd=cost, request_id=request_id)
        return data, request_id, cost

    @contextlib.contextmanager
    def recording(self) -> Iterator[None]:
        """If the stage fails after paying for something, record that spend as an observation
        of the asset before the error goes on: no materialization will carry it."""
        try:
            yield
        except BaseException:
            if any(line.usd for line in self.lines):
                self._context.log_event(
                    dg.AssetObservation(
                        asset_key=self._context.asset_key,
                        partition=self._context.partition_key,
                        metadata={**cost_metadata(self.lines), "failed_stage": True},
                    )
                )
            raise

    def metadata(self) -> dict[str, Any]:
        return {
            "model": self.decision.model,
            "provider": self.decision.provider,
            "routing_reason": self.decision.reason,
            "fallbacks": dg.MetadataValue.json(self.fallbacks),
        }
