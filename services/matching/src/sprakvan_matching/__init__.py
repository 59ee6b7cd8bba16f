"""Språkvän matching: optimal, explainable pair proposals and the life of a pair."""
