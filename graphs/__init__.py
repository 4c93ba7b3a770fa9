"""rankwise.graphs."""
