"""Streaming readers: bytes in, located raw records (or located errors) out."""
