"""Sidebar panels. Each module registers its own classes; addon.py lists the modules."""
