"""monitor-svc: checks the replicas concurrently, marks them ON/OFF, keeps the audit."""
