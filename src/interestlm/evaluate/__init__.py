"""interestlm."""
