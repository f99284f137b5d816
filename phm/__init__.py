"""phm: industrial predictive maintenance.

Data flows one way: sensors or dataset files -> canonical runs -> features -> models ->
decisions (fault probabilities, remaining useful life) -> people. See ARCHITECTURE.md.
"""

__version__ = "0.1.0"
