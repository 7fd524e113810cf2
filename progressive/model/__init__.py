"""Documents to models: Flagger Canaries, Istio VirtualServices, Shipper Applications.

    from progressive.model import load_specs
    specs = load_specs("canary.yaml")   # raises InvalidSpec listing every problem by field path
"""

from progressive.model.validate import load_spec, load_specs, validate_file

__all__ = ["load_spec", "load_specs", "validate_file"]
