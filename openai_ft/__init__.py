"""OpenAI fine-tuning: dataset checks, exact offline token counts, cost estimates, jobs and the cost ledger.

One module per concern: tokens (tiktoken offline), checks (dataset findings), pricing (prices.yaml), estimate
(tokens × epochs × price), client (the openai client and readable errors), jobs (launch, sync, cancel), ledger
(spend in the store), cli (python -m training openai ...). Nothing here imports torch.
"""
