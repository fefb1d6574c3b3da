"""webhook_verify: a provider's signature checked over the exact bytes, on any platform."""
