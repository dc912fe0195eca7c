"""`make run`: the whole product on one machine without Docker, supervised by one process."""
