"""cpu and memory of whole process trees, sampled by one periodic task."""

from supervisor_core.monitor._sampler import Monitor, TreeSample, TreeSampler

__all__ = ["Monitor", "TreeSample", "TreeSampler"]
