"""The Resque wire protocol: keys, payloads, failures, the worker registry."""
