"""SQL query modules, one per table group: literal SQL, the caller owns the transaction."""
