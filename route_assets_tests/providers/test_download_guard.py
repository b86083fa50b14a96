from collections.abc import Iterator

import httpx
import pytest

from route_assets.providers.download import download_client, fetch_media
from route_assets.providers.errors import DownloadRejected, ProviderUnavailable, ResultExpired
from route_assets_tests.providers.fakes import KEY, FakeClock, Reply, Routes, jpeg, media, mp4, png

CDN = "https://v3.fal.media/files/out.png"
FAL_HOSTS = ("fal.media",)


def fetch(routes: Routes, url: str = CDN, *, kind: str = "image", max_bytes: int = 1_000_000,
          trusted_base: str | None = None, allowed_hosts: tuple[str, ...] = FAL_HOSTS,
          **kwargs: object) -> bytes:
    with download_client(transport=routes.transport(), clock=FakeClock()) as client:
        return fetch_media(client, url, provider="fal", model="flux-dev", request_id="r1",
                           allowed_hosts=allowed_hosts, trusted_base=trusted_base,
                           kind=kind, max_bytes=max_bytes, **kwargs)  # type: ignore[arg-type]


def test_fetches_an_image_from_the_providers_cdn_without_credentials() -> None:
    routes = Routes({("GET", CDN): [media(png(), "image/png")]})

    assert fetch(routes) == png()
    assert "authorization" not in routes.seen[0].headers
    assert "x-goog-api-key" not in routes.seen[0].headers


def test_fetches_a_video() -> None:
    url = "https://v3.fal.media/files/out.mp4"
    routes = Routes({("GET", url): [media(mp4(), "video/mp4")]})

    assert fetch(routes, url, kind="video") == mp4()


@pytest.mark.parametrize("url", [
    "https://evil.example/files/out.png",
    "https://evilfal.media/files/out.png",  # a suffix, but not on a dot boundary
    "https://fal.media.evil.example/out.png",
    "http://v3.fal.media/files/out.png",  # plain http
    "https://fal.media@evil.example/out.png",  # userinfo trick
    "file:///etc/passwd",
    "data:image/png;base64,AAAA",
])
def test_refuses_urls_off_the_allowlist_without_fetching(url: str) -> None:
    routes = Routes({})

    with pytest.raises(DownloadRejected):
        fetch(routes, url)
    assert routes.seen == []


def test_the_trusted_emulator_origin_may_be_plain_http() -> None:
    url = "http://127.0.0.1:8765/media/abc.png"
    routes = Routes({("GET", url): [media(png(), "image/png")]})

    assert fetch(routes, url, trusted_base="http://127.0.0.1:8765/fal") == png()
    with pytest.raises(DownloadRejected):
        fetch(Routes({}), "http://127.0.0.1:9999/media/abc.png",
              trusted_base="http://127.0.0.1:8765/fal")


def test_refuses_a_declared_oversized_body_before_reading_it() -> None:
    routes = Routes({("GET", CDN): [Reply(content=png(), headers={
        "content-type": "image/png", "content-length": "50000000"})]})

    with pytest.raises(DownloadRejected, match="Content-Length"):
        fetch(routes)


def test_refuses_an_oversized_stream_without_content_length() -> None:
    def endless(request: httpx.Request) -> httpx.Response:
        def chunks() -> Iterator[bytes]:
            yield png()
            while True:
                yield b"\0" * 65536
        return httpx.Response(200, content=chunks(), headers={"content-type": "image/png"})

    with pytest.raises(DownloadRejected, match="cap"):
        fetch(Routes({("GET", CDN): [endless]}), max_bytes=200_000)


def test_detects_truncation_and_gives_up_after_three_fetches() -> None:
    data = png(64, 64)
    routes = Routes({("GET", CDN): [Reply(content=data[:40], headers={
        "content-type": "image/png", "content-length": str(len(data))})]})

    with pytest.raises(DownloadRejected, match=r"truncated: 40 of \d+ bytes \(3 attempts\)"):
        fetch(routes)
    assert len(routes.seen) == 3


def test_a_connection_dropped_mid_body_is_fetched_again() -> None:
    def dropped(request: httpx.Request) -> httpx.Response:
        def chunks() -> Iterator[bytes]:
            yield png()[:20]
            raise httpx.RemoteProtocolError("peer closed connection", request=request)
        return httpx.Response(200, content=chunks(), headers={"content-type": "image/png"})

    routes = Routes({("GET", CDN): [dropped, media(png(), "image/png")]})

    assert fetch(routes) == png()
    assert len(routes.seen) == 2


@pytest.mark.parametrize(("data", "content_type", "kind"), [
    (b"<html>login</html>", "text/html", "image"),
    (b"<html>login</html>", "image/png", "image"),  # declared right, bytes wrong
    (png(), "image/png", "video"),
    (mp4(), "video/mp4", "image"),
    (jpeg(), "image/png", "image"),  # the declared type and the bytes disagree
    (png()[:30] + b"\0" * 100, "image/png", "image"),  # PNG magic, broken structure
])
def test_refuses_content_that_is_not_the_expected_kind(data: bytes, content_type: str,
                                                        kind: str) -> None:
    with pytest.raises(DownloadRejected):
        fetch(Routes({("GET", CDN): [media(data, content_type)]}), kind=kind)


def test_accepts_jpeg_and_generic_content_types() -> None:
    routes = Routes({("GET", CDN): [media(jpeg(), "application/octet-stream")]})

    assert fetch(routes) == jpeg()


def test_refuses_a_pixel_bomb_from_its_header() -> None:
    routes = Routes({("GET", CDN): [media(png(400, 300), "image/png")]})

    with pytest.raises(DownloadRejected, match="exceeds"):
        fetch(routes, max_pixels=100_000)


@pytest.mark.parametrize("status", [404, 410])
def test_a_missing_result_is_expired(status: int) -> None:
    with pytest.raises(ResultExpired):
        fetch(Routes({("GET", CDN): [Reply(status)]}))


def test_a_cdn_outage_is_unavailable_after_retries() -> None:
    routes = Routes({("GET", CDN): [Reply(503)]})

    with pytest.raises(ProviderUnavailable):
        fetch(routes)
    assert len(routes.seen) == 5


def test_redirects_are_rechecked_and_never_carry_the_key_off_origin() -> None:
    start = "https://generativelanguage.googleapis.com/v1beta/files/v1:download"
    signed = "https://video.googleusercontent.com/signed/v1.mp4"
    routes = Routes({("GET", start): [Reply(302, headers={"location": signed})],
                     ("GET", signed): [media(mp4(), "video/mp4")]})

    data = fetch(routes, start, kind="video", auth_headers={"x-goog-api-key": KEY},
                 allowed_hosts=("generativelanguage.googleapis.com", "googleusercontent.com"))

    assert data == mp4()
    assert routes.seen[0].headers["x-goog-api-key"] == KEY
    assert "x-goog-api-key" not in routes.seen[1].headers


def test_a_redirect_off_the_allowlist_is_refused() -> None:
    routes = Routes({("GET", CDN): [Reply(302, headers={"location": "https://evil.example/x"})]})

    with pytest.raises(DownloadRejected, match="evil.example"):
        fetch(routes)
    assert len(routes.seen) == 1
