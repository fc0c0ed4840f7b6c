"""Code shared by the stack's services: settings, database, Kafka, errors, health, metrics."""
