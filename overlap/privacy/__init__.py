"""Privacy operations (issue 19; docs/privacy.md): retention of interaction-level data
(``retention``), erasure of a person (``forget``) and the pseudonymised analyst snapshot
(``pseudonymise``)."""
