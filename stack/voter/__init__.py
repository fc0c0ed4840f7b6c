"""voter-svc: majority voting over the inventory replicas."""
