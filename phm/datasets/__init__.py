"""Adapters from real dataset formats to canonical runs, and simulators that write those formats."""

from phm.datasets.run import Run, Waveforms

__all__ = ["Run", "Waveforms"]
