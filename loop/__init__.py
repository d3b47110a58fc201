"""One round of the loop, written once: each stage a module with one job and a typed result
(docs/architecture.md draws it). `flows/` is the Prefect shell around it."""
