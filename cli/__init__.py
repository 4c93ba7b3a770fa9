"""rankwise.cli."""
