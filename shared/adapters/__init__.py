"""Implementations of the ports in :mod:`shared.ports`, one sub-package per backend."""
