"""The chat layer: who gets a push for a posted message, and what it says (pure, no I/O)."""
