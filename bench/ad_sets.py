"""The simulated ad sets the benchmarks that run the generator simulator share: ad set k uses
subject, palette and headline k (each list cycled), so every benchmark sees the same briefs."""

from route_assets.engines.simulator import SceneSpec

SUBJECTS = ("astronaut portrait", "coffee cup", "cat", "rocket launch", "motorcycle",
            "serum bottle", "energy can", "running shoe")
PALETTES = (("#0B3D91", "#FC3D21", "#FFFFFF"), ("#14532D", "#FACC15", "#F5F5F4"),
            ("#312E81", "#A5B4FC", "#F8FAFC"), ("#1F2937", "#F97316", "#F9FAFB"),
            ("#0369A1", "#E0F2FE", "#082F49"), ("#831843", "#FBCFE8", "#FFFFFF"))
HEADLINES = ("SUMMER SALE", "NEW ARRIVALS", "SHOP NOW", "FRESH DROP")


def scene(k: int, side: int = 1024) -> SceneSpec:
    """Ad set k's scene at side x side."""
    return SceneSpec(SUBJECTS[k % len(SUBJECTS)], HEADLINES[k % len(HEADLINES)],
                     PALETTES[k % len(PALETTES)], side, side)
