"""Routers: render a traffic state into a router's config (pure), and apply it safely (rollout.routers.apply)."""
