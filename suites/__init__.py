"""The conformance suites, one module per behaviour. Shipped in the wheel as progressive.suites;
`progressive conformance` runs them."""
