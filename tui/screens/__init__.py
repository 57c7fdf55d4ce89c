"""Screens: main (tabs + dashboards), wizard, login, backup, help, confirm, switcher."""
