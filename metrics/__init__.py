"""The `evaluate` metric modules of movie101v2-hf, installed as `movie101v2_hf.evaluate_modules`.

Load one with `evaluate.load("metrics/l1_score")` from a checkout, or with
`evaluate.load(movie101v2_hf.evaluation.metric_module_path("l1_score"))` from an installed package.
"""
