"""Trajectories: the evaluation desk, its timers, its texts and its exports."""
