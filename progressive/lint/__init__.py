"""`progressive lint`: the odds that a rollout spec flakes or lets a bad release through.

    from progressive.lint import lint
    report = lint(spec, rps=40)          # LintReport: per-step figures, odds, warnings, verdict
    report.exit_code                     # 0 ok, 1 too risky (report.reasons says why)

Modules: model (what one check sees: Poisson counts, binomial errors), chain (the rollout as a
chain of ticks, exact odds without errors), montecarlo (seeded odds with errors), report
(lint() and LintReport), advice (warnings with their fix), render (the terminal table).
"""

from progressive.lint.report import SCHEMA, CheckFigures, LintReport, StepFigures, lint

__all__ = ["SCHEMA", "CheckFigures", "LintReport", "StepFigures", "lint"]
