"""Hardware-aware bitwidth search: sensitivities, an exact knapsack allocator, repair."""

from quant.search.knapsack import KnapsackSolution, solve_mck
from quant.search.repair import repair

__all__ = ["KnapsackSolution", "repair", "solve_mck"]
