"""The HTTP API every replica serves, and its OpenAPI description."""
