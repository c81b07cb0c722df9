"""The inspecting forward proxy (scenario S1): see server.py."""
