"""Network definitions shared by several parts of sdpic (one copy each, so they never drift apart)."""
