"""HTTP routers, one per resource; they turn domain errors into HTTP answers."""
