"""Fine-tuning: typed configs, methods, tasks, jobs and searches (see the fine-tuning issue)."""
