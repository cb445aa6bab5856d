"""Drivers for fabric controllers spoken to over REST (httpx): the shared HTTP layer and one client per controller."""
