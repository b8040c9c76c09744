"""Test helpers shared by the test tiers (importable as `support.*`)."""
