"""The campaign review sheet after a real run: every picture and video it shows exists."""

from html.parser import HTMLParser
from pathlib import Path

from route_assets.catalog import load_catalog
from route_assets.engines.registry import local_engines
from route_assets.partitions import AdSetKey
from route_assets.runner import register, run_ad_set, run_cost_report
from route_assets_tests.test_pipeline import BRIEF, KEY, instance, resources, store  # noqa: F401


class Media(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.sources: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag in ("img", "video") and found.get("src"):
            self.sources.append((tag, str(found["src"])))


def test_review_sheet_shows_every_candidate_placement_and_video(instance, store):  # noqa: F811
    from route_assets.brief import parse_brief

    register(instance, store, parse_brief(BRIEF, source="test"))
    assert run_ad_set(instance, KEY, max_rerolls=2,
                      resources={**resources(store), "engines": local_engines(load_catalog())}
                      ).success
    report = run_cost_report(instance, resources(store))
    page = Path(report["review/test-camp"])
    assert page.name == "review.html" and page.is_file()
    parser = Media()
    parser.feed(page.read_text())
    images = [src for tag, src in parser.sources if tag == "img"]
    videos = [src for tag, src in parser.sources if tag == "video"]
    # 2 candidate previews + before and after + 3 placements; 1 video placement
    assert len(images) == 2 + 2 + 3 and len(videos) == 1
    for _, src in parser.sources:
        assert (page.parent / src).resolve().is_file(), src
    assert "snapchat-single" in page.read_text() and AdSetKey("test-camp", "hero").ad_set in \
        page.read_text()
