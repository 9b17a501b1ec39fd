"""Real local stand-ins for remote services (HTTP servers on 127.0.0.1), used instead of mocks."""
