"""Localisation of videos: subtitles and dubbing into other languages (see base.py)."""
