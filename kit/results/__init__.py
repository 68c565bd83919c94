"""Results: the records and results.json (records.py), statistics and summaries, output
verification, and the observer interface through which a run's events reach the console and metrics."""
