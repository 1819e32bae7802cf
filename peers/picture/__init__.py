"""Rendered camera pictures (ffmpeg) and the seeded picture-health suite built on them."""
