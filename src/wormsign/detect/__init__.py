"""Detections on the case: hunt rules, propagation, and Sigma."""
