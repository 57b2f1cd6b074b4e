"""Cohorts and waves: which sites take a release when, and whether the next wave may start."""
