"""The synthetic world: a subscription business with a hidden satisfaction per customer (PRODUCT §9).

`write_world` writes the contract's input tables as Parquet, the ground truth apart under
`ground_truth/`, and a manifest; `simulate_world` returns the same world as polars frames.
"""

from simulator.frames import World, simulate_world
from simulator.world import DEFAULT_START, SIMULATOR_VERSION, WorldParams
from simulator.writer import WorldSummary, write_world

__all__ = ["DEFAULT_START", "SIMULATOR_VERSION", "World", "WorldParams", "WorldSummary", "simulate_world", "write_world"]
