"""The HTTP side of the relay: middleware, health, and the management routes."""
