"""crunch's benchmark harness: load generator, peer apps, scenarios, report."""
