"""The plumbing that knows no feature: inbox, runs, outgoing messages, router, scheduler, outbox."""
