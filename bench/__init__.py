"""`make bench`: measures every performance claim against the running system and a naive baseline."""
