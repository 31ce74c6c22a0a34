"""Service health: probing release services, and a simulator to rehearse against."""
