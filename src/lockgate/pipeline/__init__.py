"""The request pipeline: context, the policy protocol and the runner."""
