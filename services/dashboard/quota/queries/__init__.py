"""SQL of the Quota page."""
