"""The synthetic world: a business with a hidden satisfaction per customer, in two regimes.

`subscription` (the default and the demo's: contracts that end) and `purchases` (a shop:
buy-till-you-die purchases, no subscriptions, churn only visible as inactivity). `write_world`
writes the contract's input tables as Parquet, the ground truth apart under `ground_truth/`, and
a manifest that names the regime; `simulate_world` returns the same world as polars frames.
"""

from simulator.frames import World, simulate_world
from simulator.world import DEFAULT_START, REGIMES, SIMULATOR_VERSION, HarshnessParams, WorldParams, regime_params
from simulator.writer import WorldSummary, write_world

__all__ = [
    "DEFAULT_START",
    "REGIMES",
    "SIMULATOR_VERSION",
    "HarshnessParams",
    "World",
    "WorldParams",
    "WorldSummary",
    "regime_params",
    "simulate_world",
    "write_world",
]
