"""NetworkPolicy compiler: Kubernetes policies to address groups and two-stage rules, and their evaluator."""

from intent.policy.compiler import CompiledRule, RuleSet, compile_policies, update_pod
from intent.policy.evaluate import Verdict, evaluate

__all__ = ["CompiledRule", "RuleSet", "Verdict", "compile_policies", "evaluate", "update_pod"]
