"""Threat library, condition language and the engine that turns them into findings."""
