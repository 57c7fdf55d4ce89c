"""Widgets, one area per module: qr (login QR code), dashboard (one profile's panels), common."""
