"""ml-refresher: test-driven katas from linear regression to a small LLM.

Support package: the curriculum registry, the learner/reference switch, the pytest plugin that
enforces the two gates, the `kata` command line, test helpers and the kernel front end.
"""

__version__ = "0.1.0"
