"""Point-Tron: TRON block statistics with an admin dashboard."""
