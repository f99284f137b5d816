"""Official metrics, evaluation protocols and benchmark commands."""
