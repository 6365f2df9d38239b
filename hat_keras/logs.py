def configure(verbose=False):
    """Placeholder."""
