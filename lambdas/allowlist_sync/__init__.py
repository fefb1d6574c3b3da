"""The allow-list sync: keeps the WAF IP sets of allow-list presets equal to what each provider publishes."""
