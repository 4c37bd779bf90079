"""Operator commands against a target: a deployed stack (CloudFormation outputs) or a local run."""
