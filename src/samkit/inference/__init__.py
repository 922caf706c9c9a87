"""Encode an image once, answer many prompts fast."""
