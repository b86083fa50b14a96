import pytest

from route_assets.partitions import AdSetKey, InvalidKeyError


def test_round_trip():
    key = AdSetKey.parse("summer-glow/us-hero-bottle")
    assert (key.campaign, key.ad_set) == ("summer-glow", "us-hero-bottle")
    assert str(key) == "summer-glow/us-hero-bottle"


@pytest.mark.parametrize(
    "bad",
    [
        "summer", "a/b/c", "../x", "a/..", "Summer/x", "a/-x", "a/x,y", "a/x|y", "a/x*",
        "a/[x]", "a/x...", "a/", "/b", "a/" + "x" * 64, "a/x y", "a/é",
    ],
)
def test_rejects_everything_outside_the_syntax(bad):
    with pytest.raises(InvalidKeyError, match="invalid"):
        AdSetKey.parse(bad)


def test_longest_allowed_part_is_63_characters():
    assert AdSetKey("a" * 63, "b").campaign == "a" * 63
    with pytest.raises(InvalidKeyError):
        AdSetKey("a" * 64, "b")


def test_error_says_how_to_fix():
    with pytest.raises(InvalidKeyError, match="lowercase letters, digits and '-'"):
        AdSetKey("ok", "Not_OK")
