"""Helpers shared by the test tiers: free ports and processes stopped by pid."""
