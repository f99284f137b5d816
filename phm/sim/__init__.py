"""Simulated plants: physics-based pump signals (`rotating`) and the fleet publisher (`plant`)."""
