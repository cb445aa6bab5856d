"""Drivers: one contract (`drivers.base.Driver`) and its adapters, found through entry points."""
