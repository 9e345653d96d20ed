"""The vocabulary every part shares: domain errors, money, statuses, time zones, JSON values, request field types."""
