"""Unique discount codes: one per customer, reserved by the scan, created by a worker job."""
