"""SQL of the OAuth accounts feature."""
