"""orders-svc: the order API; publishes order events, tracks replica results."""
