"""Metrics, YAML benchmarks, the batched runner and the leaderboard (see the evaluation issue)."""
