"""Models: baselines (scikit-learn, lifelines) and the mixture-of-experts network."""
