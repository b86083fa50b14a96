"""The vision judge client against the emulator over real loopback HTTP, both wire formats."""


import numpy as np
import pytest

from route_assets.emulator import Emulator
from route_assets.emulator.judge import OPENAI_KEY
from route_assets.imaging import codecs
from route_assets.imaging.flaws import FlawKind
from route_assets.providers.errors import MalformedResponse, ProviderRejected, ProviderUnavailable
from route_assets.providers.judge import JudgeNotSent, VisionJudge, parse_review

GEMINI_MODEL = "gemini-2.5-flash"
SIZE = (160, 96)


def frame(flat: bool = False) -> bytes:
    rng = np.random.default_rng(1)
    image = np.full((SIZE[1], SIZE[0], 3), 120, np.uint8)
    if not flat:
        image[20:80, 40:120] = rng.integers(0, 255, (60, 80, 3), dtype=np.uint8)
    return codecs.encode_png(image)


def gemini_judge(emu: Emulator, **kw: object) -> VisionJudge:
    return VisionJudge(api="gemini", base_url=f"{emu.root}/judge/gemini", model=GEMINI_MODEL,
                       api_key=emu.env()["GEMINI_API_KEY"], price_usd=0.0004, **kw)  # type: ignore[arg-type]


def openai_judge(emu: Emulator, model: str = "gpt-4.1-mini", key: str = OPENAI_KEY) -> VisionJudge:
    return VisionJudge(api="openai", base_url=f"{emu.root}/judge/openai/v1", model=model,
                       api_key=key, price_usd=0.001)


@pytest.mark.parametrize("make", [gemini_judge, openai_judge])
def test_review_becomes_flaws(emu: Emulator, make: object) -> None:
    judge = make(emu)  # type: ignore[operator]
    good = judge.judge(frame(), size=SIZE, prompt="a bottle on sand", subject="bottle")
    assert good.flaws == () and good.prompt_adherence == pytest.approx(0.9)
    assert good.request_id and good.cost_usd == judge.price_usd
    bad = judge.judge(frame(flat=True), size=SIZE, prompt="a bottle on sand", subject="bottle")
    assert [f.kind for f in bad.flaws] == [FlawKind.PROMPT_MISMATCH]
    assert bad.flaws[0].fundamental and bad.flaws[0].region is None
    sent = emu.inputs(model=judge.model)[-1]
    assert "bottle" in str(sent) and ("responseSchema" in str(sent) or "json_schema" in str(sent))


def test_gemini_faults_map_to_provider_errors(emu: Emulator) -> None:
    judge = gemini_judge(emu)
    emu.inject("gemini", "503", model=GEMINI_MODEL)
    with pytest.raises(ProviderUnavailable):
        judge.judge(frame(), size=SIZE, prompt="p", subject="s")
    emu.inject("gemini", "malformed", model=GEMINI_MODEL)
    with pytest.raises(MalformedResponse):
        judge.judge(frame(), size=SIZE, prompt="p", subject="s")
    emu.inject("gemini", "moderation", model=GEMINI_MODEL)
    with pytest.raises(MalformedResponse, match="no JSON text"):
        judge.judge(frame(), size=SIZE, prompt="p", subject="s")
    # A POST is a bill: nothing was retried.
    assert emu.attempts("gemini", GEMINI_MODEL) == 3


@pytest.mark.parametrize("fault, error", [("500", ProviderUnavailable),
                                          ("malformed", MalformedResponse),
                                          ("off-schema", MalformedResponse),
                                          ("refusal", MalformedResponse)])
def test_openai_faults_map_to_provider_errors(emu: Emulator, fault: str,
                                              error: type[Exception]) -> None:
    with pytest.raises(error) as info:
        openai_judge(emu, model=f"fault-{fault}").judge(frame(), size=SIZE, prompt="p",
                                                        subject="s")
    assert OPENAI_KEY not in str(info.value)


def test_a_wrong_key_is_rejected_and_never_echoed(emu: Emulator) -> None:
    with pytest.raises(ProviderRejected) as info:
        openai_judge(emu, key="sk-wrong-secret").judge(frame(), size=SIZE, prompt="p",
                                                        subject="s")
    assert "sk-wrong-secret" not in str(info.value)


@pytest.mark.parametrize("text, field", [
    ("not json", "not the requested JSON"),
    ('{"prompt_adherence": 2, "issues": []}', "prompt_adherence"),
    ('{"prompt_adherence": 0.8, "issues": [{"kind": "hands", "severity": 1}]}', "kind"),
    ('{"prompt_adherence": 0.8, "issues": [{"kind": "anatomy", "severity": 0.5, '
     '"box": [0.5, 0.5, 0.2, 0.9]}]}', "empty"),
])
def test_untrusted_reviews_fail_clearly(text: str, field: str) -> None:
    with pytest.raises(MalformedResponse, match=field):
        parse_review(text, (100, 100), 0.5, provider="judge-openai", model="m")


def test_anatomy_issue_keeps_its_box() -> None:
    adherence, flaws = parse_review(
        '{"prompt_adherence": 0.8, "issues": [{"kind": "anatomy", "severity": 0.7, '
        '"description": "six fingers", "box": [0.1, 0.2, 0.3, 0.5]}]}', (200, 100), 0.5,
        provider="judge-gemini", model="m")
    assert adherence == 0.8
    assert [(f.kind, f.region) for f in flaws] == [(FlawKind.BAD_ANATOMY, (20, 20, 60, 50))]


def test_a_closed_port_is_not_sent() -> None:
    judge = VisionJudge(api="openai", base_url="http://127.0.0.1:9/v1", model="m",
                        api_key=OPENAI_KEY, price_usd=0.001)
    with pytest.raises(JudgeNotSent):
        judge.judge(frame(), size=SIZE, prompt="p", subject="s")
