"""Data loaders, offline-first: each reads a prepared local copy when one is configured and
keeps the real download path for learners who are online."""
