"""Privacy: the name and BSN guard, export and forget, retention, keys and the audit commands."""
