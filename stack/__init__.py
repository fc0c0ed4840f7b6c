"""The system under test: orders-svc, inventory-svc (three replicas), monitor-svc, voter-svc.

Each service is started with ``python -m stack.<service>`` and configured only by
environment variables (see ``docs/architecture.md``). The stack never imports ``gameday``.
"""
