"""Operators. Each module registers its own classes; addon/registration.py lists the modules."""
