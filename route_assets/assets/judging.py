"""The optional vision judge inside flaw_classification: a paid call per candidate frame through
the budget ledger and the request cache (a repeat costs nothing), its flaws combined with the
measured ones. Any failure (no key, no price, budget, provider error, untrusted answer) leaves
the measured verdict and a warning; whatever may have been billed is recorded."""

import json
import os

import dagster as dg

from route_assets.assets.common import StageInput
from route_assets.catalog import JudgePolicy, load_catalog
from route_assets.costs import CostLine
from route_assets.imaging.flaws import Flaw, FlawKind
from route_assets.ledger import BudgetExceeded, Ledger
from route_assets.providers.errors import ProviderError
from route_assets.providers.judge import JudgeNotSent, VisionJudge
from route_assets.request_cache import cached_call
from route_assets.storage import CreativeStore

STAGE = "flaw_classification"


class Judging:
    """The judge for one materialization of one ad set."""

    def __init__(self, policy: JudgePolicy, inp: StageInput, store: CreativeStore,
                 ledger: Ledger) -> None:
        self.policy, self._inp, self._store, self._ledger = policy, inp, store, ledger
        self.lines: list[CostLine] = []
        self.warnings: list[str] = []
        self.judge: VisionJudge | None = None
        if not policy.enabled:
            return
        key = os.environ.get(policy.key_env, "").strip()
        try:
            price = load_catalog().get(policy.model).list_price.usd
        except KeyError:
            self.warnings.append(f"judge model {policy.model!r} is not in models.yaml (its price "
                                 "per call); measured verdicts only")
            return
        if not key:
            self.warnings.append(f"judge enabled but {policy.key_env} is not set; measured "
                                 "verdicts only")
            return
        self.judge = VisionJudge(api=policy.api, base_url=policy.base_url, model=policy.model,
                                 api_key=key, price_usd=price, min_adherence=policy.min_adherence,
                                 timeout_s=policy.timeout_s)

    def flaws(self, index: int, blob: str, png: bytes, size: tuple[int, int]) -> list[Flaw]:
        judge = self.judge
        if judge is None:
            return []
        ad_set, key = self._inp.ad_set, self._inp.key
        payload = {"api": judge.api, "model": judge.model, "base_url": judge.base_url,
                   "prompt": ad_set.prompt, "subject": ad_set.subject, "image": blob,
                   "min_adherence": judge.min_adherence}

        def call() -> tuple[bytes, str, float]:
            reservation = self._ledger.reserve(
                campaign=key.campaign, budget_usd=self._inp.brief.budget_usd,
                amount_usd=judge.price_usd, stage=STAGE, model=judge.model,
                provider=f"judge-{judge.api}")
            try:
                found = judge.judge(png, size=size, prompt=ad_set.prompt, subject=ad_set.subject)
            except ProviderError as exc:
                if isinstance(exc, JudgeNotSent) or (exc.status or 0) >= 400:
                    self._ledger.release(reservation)  # not sent, or an error answer: no bill
                else:  # answered 200 but unreadable, or no answer: it may be billed
                    self._ledger.settle(reservation, actual_usd=judge.price_usd,
                                        request_id=exc.request_id or "unknown")
                    self.lines.append(self._line(judge, judge.price_usd, exc.request_id or "",
                                                 cached=False))
                raise
            self._ledger.settle(reservation, actual_usd=found.cost_usd,
                                request_id=found.request_id)
            records = [[f.kind.value, f.severity, f.region, f.measure] for f in found.flaws]
            return json.dumps(records).encode(), found.request_id, found.cost_usd

        try:
            hit, cached = cached_call(self._store, kind="judge", payload=payload, suffix=".json",
                                      seed=0, make=call)
        except (ProviderError, BudgetExceeded) as exc:
            self.warnings.append(f"candidate {index}: judge failed, measured verdict kept: {exc}")
            return []
        self.lines.append(self._line(judge, 0.0 if cached else hit.cost_usd, hit.request_id,
                                     cached=cached, saved=hit.cost_usd if cached else 0.0))
        records = json.loads(self._store.get_blob(hit.blob))
        return [Flaw(FlawKind(k), s, tuple(r) if r else None, m)
                for k, s, r, m in records]

    def _line(self, judge: VisionJudge, usd: float, request_id: str, *, cached: bool,
              saved: float = 0.0) -> CostLine:
        return CostLine(campaign=self._inp.key.campaign, ad_set=self._inp.key.ad_set, stage=STAGE,
                        model=judge.model, provider=f"judge-{judge.api}", usd=usd,
                        request_id=request_id, cached=cached, saved_usd=saved)

    def metadata(self) -> dict[str, dg.MetadataValue]:
        return {"judge": dg.MetadataValue.json({
            "enabled": self.policy.enabled, "active": self.judge is not None,
            "api": self.policy.api, "model": self.policy.model, "warnings": self.warnings})}
