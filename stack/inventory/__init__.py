"""inventory-svc: one replica of the inventory (three run, each with its own state)."""
