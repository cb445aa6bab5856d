"""Pure renderers of the compiled NetworkPolicy rule set (`AddressGroup` + `PolicyRule`) per platform."""
