"""A marketplace policy: a versioned YAML file of submit/policies/, each rule with its
parameters and the page it comes from, resolved with neurostock.yml's overrides into the
dbt var `ns_submission` that the models of dbt_project/models/submission/ read."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from neurostock.core.config import SubmissionConfig
from neurostock.core.errors import NeurostockError

POLICY_DIR = Path(__file__).parent / "policies"
ACTIONS = ("hold", "reject", "label")
# The quality rule: the sell decision (default) or the percentile override.
QUALITY_RULES = ("decision", "percentile")


@dataclass(frozen=True)
class Rule:
    id: str
    on_fail: str
    params: dict
    source: str
    checks: str


@dataclass(frozen=True)
class Policy:
    name: str
    version: int
    marketplace: str
    csv: dict
    rules: tuple[Rule, ...]
    overridden: dict = field(default_factory=dict)

    @property
    def params(self) -> dict:
        """Every rule parameter by its name (names are unique across a policy's rules)."""
        return {k: v for rule in self.rules for k, v in rule.params.items()}

    def as_var(self) -> dict:
        """The dbt var `ns_submission`."""
        return {"policy": self.name, "version": self.version, "params": self.params,
                "actions": {r.id: r.on_fail for r in self.rules}, "csv": self.csv}

    def describe(self) -> dict:
        """The policy as the pack's manifest records it."""
        return {"policy": self.name, "version": self.version, "marketplace": self.marketplace,
                "overridden": self.overridden,
                "rules": [{"id": r.id, "on_fail": r.on_fail, "params": r.params,
                           "source": r.source, "checks": r.checks} for r in self.rules]}


def available() -> list[str]:
    return sorted(p.stem for p in POLICY_DIR.glob("*.yml"))


def load_policy(name: str, overrides: dict | None = None) -> Policy:
    """The policy `name` with `overrides` applied; a one-line NeurostockError for an
    unknown policy, an unknown parameter name or a value of the wrong type."""
    path = POLICY_DIR / f"{name}.yml"
    if not path.is_file():
        raise NeurostockError(f"unknown submission policy {name!r} (known: "
                              f"{', '.join(available()) or 'none'}; files in {POLICY_DIR})")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        rules = [Rule(id=r["id"], on_fail=r["on_fail"], params=dict(r.get("params") or {}),
                      source=r["source"], checks=r["checks"]) for r in data["rules"]]
        policy = Policy(name=data["policy"], version=int(data["version"]),
                        marketplace=data["marketplace"], csv=dict(data["csv"]),
                        rules=tuple(rules))
    except (yaml.YAMLError, KeyError, TypeError, ValueError) as exc:
        raise NeurostockError(f"policy file {path} is malformed: {exc}".splitlines()[0]) \
            from None
    if policy.name != name:
        raise NeurostockError(f"policy file {path} names itself {policy.name!r}, not {name!r}")
    bad = [r.id for r in rules if r.on_fail not in ACTIONS]
    if bad:
        raise NeurostockError(f"policy file {path}: rule {bad[0]}: on_fail must be one of "
                              f"{', '.join(ACTIONS)}")
    names = [k for r in rules for k in r.params]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise NeurostockError(f"policy file {path}: parameter(s) in two rules: {twice}")
    return _override(policy, overrides or {}, path)


def _override(policy: Policy, overrides: dict, path: Path) -> Policy:
    known = policy.params
    rules = []
    for key, value in overrides.items():
        if key not in known:
            raise NeurostockError(
                f"submission.overrides.{key}: not a parameter of policy {policy.name} "
                f"(known: {', '.join(sorted(known))})")
        default = known[key]
        if isinstance(default, str) != isinstance(value, str) or isinstance(value, bool):
            kind = "text" if isinstance(default, str) else "a number"
            raise NeurostockError(f"submission.overrides.{key}: must be {kind}, got {value!r}")
        if not isinstance(value, str) and value < 0:
            raise NeurostockError(f"submission.overrides.{key}: must be at least 0, got {value}")
    choices = {"quality_rule": QUALITY_RULES}
    for key, allowed in choices.items():
        if key in overrides and overrides[key] not in allowed:
            raise NeurostockError(f"submission.overrides.{key}: must be one of "
                                  f"{', '.join(allowed)}, got {overrides[key]!r}")
    target = overrides.get("target_precision")
    if target is not None and not 0 < target < 1:
        raise NeurostockError("submission.overrides.target_precision: must be between 0 and 1 "
                              f"(a precision), got {target}")
    for rule in policy.rules:
        params = {k: overrides.get(k, v) for k, v in rule.params.items()}
        if isinstance(params.get("near_duplicate_budget"), float):
            value = params["near_duplicate_budget"]
            if value != int(value):
                raise NeurostockError("submission.overrides.near_duplicate_budget: must be a "
                                      f"whole number, got {value}")
            params["near_duplicate_budget"] = int(value)
        rules.append(Rule(rule.id, rule.on_fail, params, rule.source, rule.checks))
    return Policy(policy.name, policy.version, policy.marketplace, policy.csv, tuple(rules),
                  dict(overrides))


def configured_policy(config: SubmissionConfig, name: str | None = None) -> Policy:
    """The policy neurostock.yml chooses (or `name`), with its overrides when it is the
    configured one."""
    chosen = name or config.policy
    return load_policy(chosen, config.overrides if chosen == config.policy else {})
