"""Real HTTP servers on 127.0.0.1 speaking each hosted provider's protocol (see base.py)."""
