"""Benchmarks of resqued against RQ and the machine's limits: ``python -m bench --quick|--full``."""
