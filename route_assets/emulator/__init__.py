"""A loopback emulator of the hosted providers' HTTP APIs (fal, Replicate, BFL, Gemini/Veo)
with injectable faults and exact submission counters, for dry runs and tests."""

from route_assets.emulator.server import Emulator, serve_forever
from route_assets.emulator.state import DEFAULT_KEYS

__all__ = ["DEFAULT_KEYS", "Emulator", "serve_forever"]
