"""The embedded default dataset: physiologically structured synthetic 12-lead ECGs."""
