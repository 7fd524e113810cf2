"""Reports of a conformance run: the conformance report (YAML), Allure extras and plots."""
