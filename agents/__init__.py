"""rankwise.agents."""
