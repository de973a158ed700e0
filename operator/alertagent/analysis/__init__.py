"""Root-cause analysis of incidents (pure): the built-in report from facts AlertAgent reads, and what an
LLM provider is sent and answers (redaction, anonymisation, context, read-only tools, answer parsing,
budgets). No I/O here: the gateway reads the cluster and calls providers, these modules decide."""
