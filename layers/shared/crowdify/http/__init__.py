"""The HTTP edge every API function shares: the resolver, the one error table, the Lambda entry point."""
